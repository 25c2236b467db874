#!/bin/bash
# hpcfold screen on GPU nodes with Slurm: one MPI rank per GPU.
#
# Submit:   sbatch jobs/slurm-gpu.sh configs/gpu-node.yaml
# Resume:   submit the same command again. The results store is resumable: chunks already
#           stored are skipped (docs/hpc-guide.md, "Resuming after a wall-clock kill").
#
# Layout: GPUS_PER_NODE ranks per node, each bound by Slurm to exactly one GPU
# (--gpus-per-task=1 --gpu-bind=single:1 -> one device in CUDA_VISIBLE_DEVICES, which hpcfold
# keeps). Rank 0 schedules chunks and is the single writer of the results store; it never
# imports JAX, so its GPU stays idle: 2 nodes x 4 GPUs = 7 docking GPUs. On ONE node you can
# use all GPUs with 5 ranks for 4 GPUs instead (docs/hpc-guide.md, "GPU nodes").
#
# GPU memory, device choice and the JAX compile cache are set in the config's `device:`
# section (device.gpu_memory_fraction, device.preallocate, device.compile_cache): hpcfold
# sets XLA_PYTHON_CLIENT_* and thread counts per rank itself, before JAX starts.
#
# Adjust the #SBATCH lines to your site (partition, account, GPU type, time).
#SBATCH --job-name=hpcfold-gpu
#SBATCH --nodes=2                   # nodes
#SBATCH --ntasks-per-node=4         # = GPUs per node: one rank per GPU
#SBATCH --gpus-per-node=4           # GPUs per node (some sites: --gres=gpu:4)
#SBATCH --cpus-per-task=8           # host cores per rank (ligand reading, result packing)
#SBATCH --mem=0                     # all of each node's memory
#SBATCH --time=04:00:00             # too short? resubmit: the screen resumes
#SBATCH --output=hpcfold-%j.out
##SBATCH --partition=gpu            # site-specific: uncomment and edit
##SBATCH --account=myproject

set -euo pipefail

CONFIG="${1:-configs/gpu-node.yaml}"   # screen config: receptor, box, ligands, output, device

# The environment hpcfold was installed in (or `module load` your site's Python and MPI).
# shellcheck disable=SC1091
source "${HPCFOLD_VENV:-$PWD/.venv}/bin/activate"

# srun starts all ranks: one GPU each, cores pinned per rank (--cpu-bind=cores; hpcfold keeps a
# launcher's binding), and the whole step ends if one rank dies (hpcfold also calls MPI_Abort
# on any uncaught error, so no rank waits forever).
srun --ntasks-per-node=4 --gpus-per-task=1 --gpu-bind=single:1 \
     --cpu-bind=cores --kill-on-bad-exit=1 \
     hpcfold screen "$CONFIG"

# Afterwards (on the login node, or here): hits and a report; paths from the config's `output`.
# hpcfold export screen-out/results.h5 --top 1000 -o screen-out/hits.sdf
# hpcfold report screen-out/results.h5 -o screen-out/report
