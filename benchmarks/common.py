"""Shared by the benchmark scripts: build a run's objects from a config file and time jitted calls."""

import importlib.util
import json
import time

import jax
import numpy as np

from jaxssl.data import ArraySource, sources


def load_config(path_and_options: str):
    """'configs/x.py:opts' -> the ConfigDict that `--config=` would give."""
    path, _, options = path_and_options.partition(":")
    spec = importlib.util.spec_from_file_location("benchmark_config", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = module.get_config(options or None)
    config.unlock()
    return config


def seconds_per_call(fn, *args, repeats: int) -> float:
    """Median wall time of fn(*args) after one warm-up (compile) call, outputs blocked on."""
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def emit(record: dict) -> None:
    print(json.dumps(record, sort_keys=True))


def synthetic_data(dataset: str) -> tuple:
    """(train, eval, info) standing in for `dataset`: its published info and split sizes, with images that
    take no memory (the step is fed its own synthetic batch)."""
    info = sources.PUBLISHED_INFO[dataset]
    shape = tuple(size or 1 for size in info.image_shape)

    def split(count: int) -> ArraySource:
        images = np.broadcast_to(np.zeros((1, *shape), np.uint8), (count, *shape))
        return ArraySource(images, np.zeros(count, np.int32))

    return split(info.train_examples), split(info.eval_examples), info
