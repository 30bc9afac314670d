"""Test setup: 8 fake CPU devices, a persistent compilation cache, XLA's lowest backend optimisation level
and its older (non-MLIR) CPU fusion emitters, before JAX starts. The suite's programs are micro models on a
few rows, so compiling them costs more than running them: optimisation level 0 took the suite from a clean
clone from 718 s to 530 s on a 2-core Intel Xeon (AVX-512); the older emitters compile a tiny training step
in about half the time (SimCLR 3.1 -> 1.7 s, MoCo v3's ViT 4.7 -> 2.3 s, DINO 6.3 -> 4.3 s on a 2-core AMD
EPYC), every test passing. The command-line tests' subprocesses inherit them (XLA_FLAGS set beforehand
wins)."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0 --xla_cpu_use_fusion_emitters=false")

import jax  # noqa: E402  (after XLA_FLAGS, on purpose)

jax.config.update("jax_num_cpu_devices", 8)
jax.config.update(
    "jax_compilation_cache_dir",
    os.environ.get("JAXSSL_TEST_CACHE", os.path.join(os.path.dirname(__file__), "..", ".jax_cache")),
)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


import gc  # noqa: E402  (after the JAX setup above, on purpose)
import gzip  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402


def pytest_collection_finish(session):
    """Python's cyclic garbage collector, set for a process that holds TensorFlow, JAX and every test module:
    what is alive once the tests are collected is frozen (never scanned again), and the collector runs after
    50,000 net allocations rather than 700, each older generation after 20 collections of the younger. Each
    full collection walks a heap of millions of objects (tracing, lowering and compiling leave many behind):
    in tests/test_methods.py (41 tests, one process) the collector took 26.5 s with Python's defaults and
    9.1 s with these settings, the file's CPU time going from 180 to 136 s."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def write_idx(path, array: np.ndarray) -> None:
    """An IDX file (the MNIST format): magic 0x0000 08 <ndim>, big-endian int32 dims, uint8 data; gzipped."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="session")
def fashion_dir(tmp_path_factory):
    """A miniature Fashion-MNIST in IDX files: 64 train and 32 test 28x28 images, 10 classes whose images
    differ in mean brightness (so that a probe has something to find)."""
    directory = tmp_path_factory.mktemp("fashion_mnist")
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 64), ("t10k", 32)):
        labels = np.arange(count) % 10
        images = rng.integers(0, 20, size=(count, 28, 28)) + 23 * labels[:, None, None]
        write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return str(directory)
