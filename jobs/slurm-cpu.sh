#!/bin/bash
# hpcfold screen on CPU-only nodes with Slurm, several nodes: one rank per core set.
#
# Submit:   sbatch jobs/slurm-cpu.sh configs/cpu-cluster.yaml
# Resume:   submit the same command again (chunks already stored are skipped).
#
# Layout: each node runs --ntasks-per-node ranks, each pinned by srun to its own core set of
# --cpus-per-task cores. The CPU kernel docks one ligand at a time per rank, so one rank per
# core (core sets of 1) scales best. Rank 0 schedules chunks and writes the results store; it
# sleeps while it waits and uses little CPU. Example below: 2 nodes x 128 cores = 256 ranks.
#
# The config should say `device: {mode: cpu, cpu_threads: 1}` (XLA threads per rank; keep it
# equal to --cpus-per-task). Core sets of 2 (--cpus-per-task=2, cpu_threads: 2, half the ranks)
# halve the memory taken by per-rank grids and kernels. Set device.compile_cache to a shared
# folder so that every rank and the next job reuse the compiled kernels.
#SBATCH --job-name=hpcfold-cpu
#SBATCH --nodes=2                   # multi-node: ranks spread over all nodes
#SBATCH --ntasks-per-node=128       # ranks per node: one per core
#SBATCH --cpus-per-task=1           # cores per rank: its core set (= device.cpu_threads)
#SBATCH --mem=0
#SBATCH --time=12:00:00
#SBATCH --output=hpcfold-%j.out
##SBATCH --partition=compute        # site-specific
##SBATCH --account=myproject

set -euo pipefail

CONFIG="${1:-configs/cpu-cluster.yaml}"

# shellcheck disable=SC1091
source "${HPCFOLD_VENV:-$PWD/.venv}/bin/activate"

# --cpu-bind=cores pins each rank to its --cpus-per-task cores (disjoint core sets);
# --distribution=block:block keeps a rank's cores together on one socket.
srun --cpu-bind=cores --distribution=block:block --kill-on-bad-exit=1 \
     hpcfold screen "$CONFIG"
