#!/usr/bin/env bash
# One multi-GPU host: a single process drives every visible GPU through the device mesh
# (no per-GPU processes needed). Pick GPUs with CUDA_VISIBLE_DEVICES.
#   CUDA_VISIBLE_DEVICES=0,1,2,3 launch/multigpu.sh configs/byol.py:dataset=imagenet2012,backbone=resnet50 runs/byol
set -euo pipefail
config=$1; workdir=$2; shift 2
export XLA_PYTHON_CLIENT_MEM_FRACTION=${XLA_PYTHON_CLIENT_MEM_FRACTION:-0.9}
exec python -m jaxssl.main --config="$config" --workdir="$workdir" "$@"
