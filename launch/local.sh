#!/usr/bin/env bash
# One process on the local host's devices (CPU, one or several GPUs, or a single TPU host).
#   launch/local.sh configs/simclr.py:dataset=cifar10 runs/simclr_cifar10 [--config.x=y ...]
set -euo pipefail
config=$1; workdir=$2; shift 2
exec python -m jaxssl.main --config="$config" --workdir="$workdir" "$@"
