#!/bin/bash
# hpcfold screen on CPU-only nodes with Slurm, several nodes: one rank per core set.
#
# Submit:   sbatch jobs/slurm-cpu.sh configs/cpu-cluster.yaml
# Resume:   submit the same command again (chunks already stored are skipped).
#
# Layout: each node runs --ntasks-per-node ranks, each pinned by srun to its own set of
# --cpus-per-task cores. JAX/XLA on CPU scales well up to ~4-8 cores per process, so more,
# smaller ranks keep a node busier than one big one. Rank 0 schedules chunks and writes the
# results store; it sleeps while it waits and uses little CPU.
# Example below: 2 nodes x 128 cores = 2 x 16 ranks x 8 cores.
#
# The config should say `device: {mode: cpu}`; hpcfold sizes each rank's XLA/OpenMP thread
# pools to the cores it is bound to. Set device.compile_cache to a shared folder so that
# the next job reuses the compiled kernels.
#SBATCH --job-name=hpcfold-cpu
#SBATCH --nodes=2                   # multi-node: ranks spread over all nodes
#SBATCH --ntasks-per-node=16        # ranks per node
#SBATCH --cpus-per-task=8           # cores per rank: its core set
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
