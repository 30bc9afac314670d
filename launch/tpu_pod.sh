#!/usr/bin/env bash
# A Cloud TPU pod slice: the same command on every host; jax.distributed.initialize() finds the others.
#   launch/tpu_pod.sh TPU_NAME ZONE configs/simclr.py:dataset=imagenet2012,backbone=resnet50,batch=4096 \
#       /mnt/shared/runs/simclr_in1k
# The workdir must be a filesystem path that every host sees (an NFS or Filestore mount).
set -euo pipefail
tpu=$1; zone=$2; config=$3; workdir=$4; shift 4
extra=""
if [ $# -gt 0 ]; then extra=$(printf ' %q' "$@"); fi
gcloud compute tpus tpu-vm ssh "$tpu" --zone="$zone" --worker=all --command="cd ~/jaxssl && \
  python -m jaxssl.main --config='$config' --workdir='$workdir' --distributed$extra"
