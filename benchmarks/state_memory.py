"""Bytes of the training state each device holds, for the methods with memories, at several device counts.

  python -m benchmarks.state_memory                                  # the ImageNet configs at 1, 8, 64 devices
  python -m benchmarks.state_memory --dataset=cifar10 --devices=1,8

Nothing is computed and no data is needed: the state's shapes come from jax.eval_shape, and each array's
share per device from the rules run_state.state_layout applies (a method's memories split over the data axis
along their rows where the device count divides them, weights of at least config.mesh.min_split_weight_bytes
along one axis it divides, everything else replicated). One JSON line per method and device count: the
state's bytes per device, the memories' and the weights' (parameters, optimizer state, EMA target) parts of
it, and the fraction of the replicated state (1 device) that is left per device.
"""

import argparse
import math

import jax

from benchmarks.accelerator import synthetic_data
from benchmarks.common import emit, load_config
from jaxssl import experiment, run_state, sharding

METHODS = ("moco_v2", "nnclr", "instdisc", "swav", "deepcluster_v2")


def nbytes(leaf) -> int:
    return math.prod(leaf.shape) * leaf.dtype.itemsize


def bytes_per_device(state, memories, devices: int, min_split_bytes: int) -> tuple[int, int, int]:
    """(the whole state, its memories, its weights) in bytes on each of `devices` devices, weights of at least
    `min_split_bytes` split over them."""
    memory_bytes = 0
    for name, axis in memories:
        for leaf in jax.tree.leaves(state.extra.get(name, {})):
            split = sharding.splits_evenly(leaf.shape, axis, devices)
            memory_bytes += nbytes(leaf) // (devices if split else 1)
    weight_bytes = sum(
        nbytes(leaf)
        // (1 if sharding.weight_axis(leaf.shape, leaf.dtype, devices, min_split_bytes) is None else devices)
        for leaf in jax.tree.leaves((state.params, state.opt_state, state.target))
    )
    held = {name for name, _ in memories}
    other = {key: value for key, value in state.extra.items() if key not in held}
    rest = sum(
        nbytes(leaf)
        for leaf in jax.tree.leaves(state.replace(params={}, opt_state={}, target={}, extra=other))
    )
    return rest + memory_bytes + weight_bytes, memory_bytes, weight_bytes


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="imagenet2012")
    parser.add_argument("--devices", default="1,8,64")
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args(argv)
    for method in args.methods.split(","):
        config = load_config(f"configs/{method}.py:dataset={args.dataset}")
        exp = experiment.prepare(config, data=synthetic_data(args.dataset))
        state = jax.eval_shape(lambda key, exp=exp: run_state.init_state(exp, key), jax.random.key(0))
        min_split_bytes = exp.min_split_weight_bytes
        whole, _, _ = bytes_per_device(state, exp.method.memories, 1, min_split_bytes)
        for devices in map(int, args.devices.split(",")):
            total, memories, weights = bytes_per_device(state, exp.method.memories, devices, min_split_bytes)
            emit(
                {
                    "benchmark": "state_memory",
                    "config": f"configs/{method}.py:dataset={args.dataset}",
                    "backbone": config.model.backbone,
                    "devices": devices,
                    "state_mb_per_device": round(total / 2**20, 1),
                    "memories_mb_per_device": round(memories / 2**20, 1),
                    "weights_mb_per_device": round(weights / 2**20, 1),
                    "fraction_of_replicated": round(total / whole, 3),
                }
            )


if __name__ == "__main__":
    main()
