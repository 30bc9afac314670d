"""Compile time of every quickstart method's training step on the local host, at the suite's tiny size and at the
quickstart's size, with the persistent compilation cache off (each compile is a cold one).

  python -m benchmarks.compile_time                                   # XLA's defaults (and jaxssl's CPU ones)
  XLA_FLAGS=--xla_backend_optimization_level=0 python -m benchmarks.compile_time   # the test suite's level
  python -m benchmarks.compile_time --methods=simclr,mae --sizes=tiny

One JSON line per (method, size): seconds to trace and lower the step, seconds for XLA to compile it, and the
XLA_FLAGS in force; synthetic data (no dataset needed), one device.
"""

import argparse
import os
import time

import jax
import numpy as np

from benchmarks.accelerator import host_batch
from benchmarks.common import emit, load_config, synthetic_data
from configs import quickstart
from jaxssl import experiment, run_state, sharding

SIZES = ("tiny", "quickstart")


def config_of(method: str, size: str):
    """The quickstart config of `method` (its ViT variant for MAE), tiny or at the quickstart's size."""
    options = f"method={method}" + (",backbone=vit_tiny" if method == "mae" else "")
    return load_config(f"configs/quickstart.py:{options}" + (",tiny=1" if size == "tiny" else ""))


def measure(method: str, size: str) -> dict:
    config = config_of(method, size)
    exp = experiment.prepare(config, data=synthetic_data(config.data.dataset))
    layout = run_state.state_layout(exp)
    batch = sharding.to_global(host_batch(exp, np.random.default_rng(0)), exp.mesh)
    start = time.perf_counter()
    lowered = run_state.compile_train_step(exp, layout).lower(layout, batch)
    lowered_s = time.perf_counter() - start
    start = time.perf_counter()
    lowered.compile()
    return {
        "benchmark": "compile_time",
        "method": method,
        "size": size,
        "backbone": config.model.backbone,
        "batch": exp.global_batch,
        "trace_and_lower_s": round(lowered_s, 2),
        "compile_s": round(time.perf_counter() - start, 2),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "devices": jax.device_count(),
    }


def main(argv=None):
    parser = argparse.ArgumentParser()
    methods = sorted(quickstart.METHOD_CONFIGS)
    parser.add_argument("--methods", default=",".join(methods), help="comma-separated quickstart methods")
    parser.add_argument("--sizes", default=",".join(SIZES), help=f"comma-separated, from {SIZES}")
    args = parser.parse_args(argv)
    names, sizes = args.methods.split(","), args.sizes.split(",")
    unknown = sorted(set(names) - set(methods)) + sorted(set(sizes) - set(SIZES))
    if unknown:
        parser.error(f"unknown methods or sizes {unknown}; methods: {methods}, sizes: {SIZES}")
    cache_was_on = jax.config.jax_enable_compilation_cache
    jax.config.update("jax_enable_compilation_cache", False)
    try:
        for size in sizes:
            for name in names:
                emit(measure(name, size))
    finally:
        jax.config.update("jax_enable_compilation_cache", cache_was_on)


if __name__ == "__main__":
    main()
