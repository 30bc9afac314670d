r"""A training pass's time, page faults, system time and peak memory under four ways of running malloc.

  taskset -c 0 python -m benchmarks.host_memory --backbones=vit_tiny,resnet10 --width=0.25 --batch=256

XLA's CPU backend gives each execution of a compiled step its temporary buffers and frees them when it ends.
glibc's malloc hands blocks that large back to the kernel at once (each its own mmap, or trimmed off the
heap's top), so the next execution faults every page in again, zero-filled: system time that grows with
the buffers. An allocator that keeps freed memory mapped avoids the faults, and keeps the process's peak
memory (the compiler's too) until it exits. For each backbone (the jitted forward+backward in training mode
of benchmarks/backbones.py, on 28 px one-channel images; a ViT on `--patch_size` px patches), a fresh
process times the same step under each setting:

- glibc: the C library's malloc as it comes;
- glibc_hugetlb: the same malloc on transparent huge pages (GLIBC_TUNABLES=glibc.malloc.hugetlb=1, glibc
  2.35 or later, the kernel's THP mode "madvise" or "always"): the buffers still go back to the kernel, but
  are faulted in 2 MB at a time;
- glibc_kept: the same malloc told to keep what it frees (GLIBC_TUNABLES: one arena, no mmap'd blocks, no
  trimming);
- tcmalloc: gperftools' tcmalloc in place of malloc (LD_PRELOAD; Debian's libtcmalloc-minimal4), where the
  library is installed.

Prints one JSON line per backbone: for each setting the median seconds per step, per step the minor page
faults and the user and system CPU seconds, and the process's peak resident memory; each setting's speed
relative to glibc; whether every setting computed the same gradients bit for bit. Pin it to the cores a run
would have (taskset) to compare like with like.
"""

import argparse
import ctypes.util
import hashlib
import json
import os
import resource
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import emit
from configs import common
from jaxssl import models


def measure(backbone: str, batch: int, width: float, patch_size: int, repeats: int) -> dict:
    """This process's step time, per-step faults and CPU seconds, peak resident memory (the compiler's
    included) and a hash of the gradients."""
    options = {k: v for k, v in common.model_block(backbone, "cifar10", 28).items() if k != "backbone"}
    if "patch_size" in options:
        options["patch_size"] = patch_size
    if "width_multiplier" in options:
        options["width_multiplier"] = width
    network = models.make_backbone(backbone, **options)
    images = jax.random.uniform(jax.random.key(0), (batch, 28, 28, 1))
    variables = network.init(jax.random.key(1), images[:2], train=False)

    def loss(params):
        features, _ = network.apply(
            {**variables, "params": params},
            images,
            train=True,
            mutable=["batch_stats"],
            rngs={"dropout": jax.random.key(2), "drop_path": jax.random.key(3)},
        )
        return jnp.mean(features**2)

    gradient = jax.jit(jax.grad(loss))
    grads = jax.block_until_ready(gradient(variables["params"]))
    before, times = resource.getrusage(resource.RUSAGE_SELF), []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(gradient(variables["params"]))
        times.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_SELF)
    leaves = jax.tree_util.tree_leaves(grads)
    return {
        "seconds_per_step": round(sorted(times)[len(times) // 2], 3),
        "page_faults_per_step": round((after.ru_minflt - before.ru_minflt) / repeats),
        "user_seconds_per_step": round((after.ru_utime - before.ru_utime) / repeats, 3),
        "system_seconds_per_step": round((after.ru_stime - before.ru_stime) / repeats, 3),
        "peak_memory_gib": round(after.ru_maxrss / 2**20, 2),
        "gradients": hashlib.sha256(b"".join(np.asarray(x).tobytes() for x in leaves)).hexdigest(),
    }


KEEP_FREED = "glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184"


def settings() -> dict:
    """{setting: the environment it adds}: glibc as it comes, on huge pages, keeping what it frees; tcmalloc
    if found."""
    found = {
        "glibc": {},
        "glibc_hugetlb": {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"},
        "glibc_kept": {"GLIBC_TUNABLES": KEEP_FREED},
    }
    tcmalloc = ctypes.util.find_library("tcmalloc_minimal") or ctypes.util.find_library("tcmalloc")
    if tcmalloc:
        found["tcmalloc"] = {"LD_PRELOAD": tcmalloc}
    return found


def in_fresh_process(args, backbone: str, environment: dict) -> dict:
    """measure() in a new Python process whose environment adds `environment`."""
    command = [sys.executable, "-m", "benchmarks.host_memory", f"--measure={backbone}"]
    command += [f"--batch={args.batch}", f"--width={args.width}", f"--patch_size={args.patch_size}"]
    command += [f"--repeats={args.repeats}"]
    result = subprocess.run(
        command, env={**os.environ, **environment}, capture_output=True, text=True, check=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--backbones", default="vit_tiny,resnet10")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--width", type=float, default=1.0, help="a ResNet's width multiplier")
    parser.add_argument("--patch_size", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--measure", default="", help="(internal) measure this backbone in this process")
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(measure(args.measure, args.batch, args.width, args.patch_size, args.repeats)))
        return
    for backbone in args.backbones.split(","):
        measured = {name: in_fresh_process(args, backbone, env) for name, env in settings().items()}
        gradients = {result.pop("gradients") for result in measured.values()}
        for result in measured.values():
            result["speed_vs_glibc"] = round(
                measured["glibc"]["seconds_per_step"] / result["seconds_per_step"], 3
            )
        emit(
            {
                "backbone": backbone,
                "width": args.width,
                "batch": args.batch,
                **measured,
                "same_gradients": len(gradients) == 1,
            }
        )


if __name__ == "__main__":
    main()
