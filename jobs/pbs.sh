#!/bin/bash
# hpcfold screen with PBS Pro / OpenPBS (qsub), several nodes, one rank per core set.
#
# Submit:   qsub -v CONFIG=configs/cpu-cluster.yaml jobs/pbs.sh
# Resume:   submit the same command again (chunks already stored are skipped).
#
# select=2:ncpus=64:mpiprocs=64 -> 2 nodes, 64 ranks per node: one rank per core, the layout
# that scales best on CPUs (config: `device: {mode: cpu, cpu_threads: 1}`). Without a launcher
# binding, hpcfold splits each node's cores evenly among its worker ranks (core sets of 1 here;
# or set device.cores_per_rank). Rank 0 schedules chunks and writes the results store.
# GPU nodes: one rank per GPU, e.g. "select=2:ncpus=32:ngpus=4:mpiprocs=4" and
# `device: {mode: gpu}` in the config: each worker takes GPU (node-local worker slot mod GPUs).
#PBS -N hpcfold
#PBS -l select=2:ncpus=64:mpiprocs=64
#PBS -l walltime=12:00:00
#PBS -j oe
##PBS -q workq                       # site-specific queue
##PBS -A myproject                   # site-specific account

set -euo pipefail
cd "${PBS_O_WORKDIR:-$PWD}"

CONFIG="${CONFIG:-configs/cpu-cluster.yaml}"

# shellcheck disable=SC1091
source "${HPCFOLD_VENV:-$PWD/.venv}/bin/activate"

NRANKS=$(wc -l < "$PBS_NODEFILE")    # one line per mpiproc
# The host list is $PBS_NODEFILE (Open MPI: --hostfile; MPICH/Hydra: -f). Launcher binding,
# if you prefer it (hpcfold keeps it): Open MPI "--bind-to core", MPICH/Hydra "-bind-to core",
# Cray PALS "mpiexec --cpu-bind core"; for core sets of k: "--map-by slot:PE=k", "-bind-to
# core:k", "--cpu-bind depth -d k".
mpiexec -n "$NRANKS" --hostfile "$PBS_NODEFILE" hpcfold screen "$CONFIG"
