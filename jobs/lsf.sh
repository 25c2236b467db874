#!/bin/bash
# hpcfold screen with IBM Spectrum LSF (bsub), several nodes, one rank per core set.
#
# Submit:   CONFIG=configs/cpu-cluster.yaml bsub < jobs/lsf.sh
#           (bsub reads the #BSUB lines from stdin and passes the environment, CONFIG too)
# Resume:   submit the same command again (chunks already stored are skipped).
#
# -n 128 with span[ptile=64]: 128 ranks, 64 per node (2 nodes); the affinity string gives each
# rank its own core (hpcfold keeps that binding): one rank per core scales best on CPUs
# (config: `device: {mode: cpu, cpu_threads: 1}`). Rank 0 schedules chunks and writes the
# results store. GPU nodes: one rank per GPU, e.g. -n 8, span[ptile=4], the -gpu line below,
# and `device: {mode: gpu}` in the config.
#BSUB -J hpcfold
#BSUB -n 128
#BSUB -R "span[ptile=64] affinity[core(1):distribute=pack]"
#BSUB -W 12:00
#BSUB -o hpcfold.%J.out
#BSUB -e hpcfold.%J.err
##BSUB -gpu "num=1:mode=exclusive_process"
##BSUB -q normal                     # site-specific queue
##BSUB -P myproject                  # site-specific project

set -euo pipefail

CONFIG="${CONFIG:-configs/cpu-cluster.yaml}"

# shellcheck disable=SC1091
source "${HPCFOLD_VENV:-$PWD/.venv}/bin/activate"

# LSF-aware MPI builds (Open MPI, Spectrum MPI, Intel MPI) take the host list from LSF.
# jsrun systems (e.g. Summit-like): jsrun -n 128 -a 1 -c 1 hpcfold screen "$CONFIG"
mpirun -n "${LSB_DJOB_NUMPROC:-128}" hpcfold screen "$CONFIG"
