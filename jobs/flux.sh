#!/bin/bash
# hpcfold screen with the Flux framework (flux batch): one rank per GPU on GPU nodes.
#
# Submit:   flux batch jobs/flux.sh configs/gpu-node.yaml
# Resume:   submit the same command again (chunks already stored are skipped).
#
# 2 nodes x 4 GPUs: 8 ranks with 1 GPU (-g 1) and 8 cores (-c 8) each; the affinity options
# make Flux bind each task to its cores and GPU (hpcfold keeps that binding). Rank 0 schedules
# chunks and writes the results store. CPU nodes: drop -g and the gpu-affinity option and run
# one rank per core (e.g. -N 2 -n 256 -c 1) with `device: {mode: cpu, cpu_threads: 1}`.
#FLUX: --job-name=hpcfold
#FLUX: -N 2
#FLUX: -n 8
#FLUX: -c 8
#FLUX: -g 1
#FLUX: -t 4h
#FLUX: --output=hpcfold-{{id}}.out

set -euo pipefail

CONFIG="${1:-configs/gpu-node.yaml}"

# shellcheck disable=SC1091
source "${HPCFOLD_VENV:-$PWD/.venv}/bin/activate"

# flux run launches the MPI ranks (Flux provides PMI to MPICH and Open MPI).
flux run -N 2 -n 8 -c 8 -g 1 -o cpu-affinity=per-task -o gpu-affinity=per-task \
    hpcfold screen "$CONFIG"
