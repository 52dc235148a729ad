#!/usr/bin/env bash
# Rendered by `pdfgc infra render --config infra/cluster.yaml`: edit the config and render again, never this file.
# The flow submits it with its own scheduler address.

#SBATCH -J dask-worker
#SBATCH -p cpu
#SBATCH -n 1
#SBATCH --cpus-per-task=8
#SBATCH --mem=30G
#SBATCH -t 08:00:00
#SBATCH --exclusive
export GLIBC_TUNABLES=glibc.malloc.hugetlb=1
python3 -m distributed.cli.dask_worker tcp://SCHEDULER:8786 --name pdfgc-worker --nthreads 1 --memory-limit 3.73GiB --nworkers 8 --nanny --death-timeout 60
