"""The papers' flagship training steps on the accelerator JAX finds, in bf16, on synthetic data (no dataset).

  python -m benchmarks.accelerator                          # every case, batch 256 per device (CIFAR: 512)
  python -m benchmarks.accelerator --cases=simclr_resnet50_224 --steps=50 --batch_per_device=512
  python -m benchmarks.accelerator --size=micro --steps=2   # the suite's CPU check: micro backbones

Prints one JSON line per case: the whole training step (on-device augmentation, the method's loss, heads,
target and probe, the optimizer; state donated, as train.py runs it) as step time and source images/s, XLA's
count of the compiled step's FLOPs (per device) and the model FLOPs utilisation against the device's
published dense bf16 peak (null where the peak is not known, as on CPU); jaxssl's target on one H100/H200
where one is set; and for the cases whose images are decoded and cropped on the host (ImageNet-sized), the
tf.data pipeline's JPEG decode-and-crop throughput over synthetic JPEGs and its headroom over what the step
consumes (above 1 the step never waits for input).
"""

import argparse
import dataclasses
import os
import tempfile
import time

import jax
import numpy as np

from benchmarks.common import emit, load_config, synthetic_data
from jaxssl import batch_streams, experiment, run_state, sharding
from jaxssl.data import sources
from jaxssl.data.tensorflow_import import tf


@dataclasses.dataclass(frozen=True)
class Case:
    config: str
    batch_per_device: int
    target_images_per_s: float | None  # jaxssl's target on one H100/H200 in bf16, None where none is set


CASES = {
    "simclr_resnet50_224": Case("configs/simclr.py:dataset=imagenet2012,backbone=resnet50", 256, 1400.0),
    "byol_resnet50_224": Case("configs/byol.py:dataset=imagenet2012,backbone=resnet50", 256, 1000.0),
    "simclr_resnet18_cifar": Case("configs/simclr.py:dataset=cifar10,backbone=resnet18", 512, 15000.0),
    "mae_vitb16_224": Case("configs/mae.py:dataset=imagenet2012,backbone=vit_base", 256, None),
    # FixMatch's CIFAR-10 step: B_l = 64 labelled and mu x B_l = 448 unlabelled rows per device (512 source
    # images), each unlabelled row seen as a weak and a strong view, WRN-28-2.
    "fixmatch_wrn28_2_cifar": Case("configs/fixmatch.py:dataset=cifar10,labels=250", 512, None),
}
PEAK_BF16_TFLOPS = {  # dense, per chip, the vendors' data sheets; matched against jax's device_kind
    "H200": 989.0,
    "H100": 989.0,
    "A100": 312.0,
    "TPU v6": 918.0,
    "TPU v5p": 459.0,
    "TPU v5": 197.0,  # v5e ("TPU v5 lite")
    "TPU v4": 275.0,
}
JPEG_SHAPES = {"full": (375, 500), "micro": (24, 32)}  # (height, width): ImageNet's typical 500 x 375


def peak_tflops(device_kind: str) -> float | None:
    return next((peak for name, peak in PEAK_BF16_TFLOPS.items() if name in device_kind), None)


def host_batch(exp, rng) -> dict:
    """One process's batch as the input pipeline delivers it: (B, V, S, S, C) host crops for ImageNet-sized
    data, (B, 1, H, W, C) stored images otherwise."""
    rows = len(sharding.process_rows(exp.mesh, exp.global_batch))
    if exp.host_crop:
        shape = (len(exp.view_specs), exp.image_size, exp.image_size, exp.info.image_shape[-1])
    else:
        shape = (1, *exp.info.image_shape)
    return {
        "image": rng.integers(0, 256, (rows, *shape), dtype=np.uint8),
        "label": rng.integers(0, max(exp.info.num_classes, 1), (rows,), dtype=np.int32),
        "index": np.arange(rows, dtype=np.int32),
    }


def seconds_per_step(train_step, state, batch, steps: int) -> tuple[float, object]:
    """Wall time per step over `steps` steps after two warm-up steps (compile, then a steady one), the state
    donated and carried from step to step as in training."""
    for _ in range(2):
        state, metrics = train_step(state, batch)
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for _ in range(steps):
        state, metrics = train_step(state, batch)
    jax.block_until_ready((state, metrics))
    return (time.perf_counter() - start) / steps, state


def write_jpegs(directory: str, count: int, shape: tuple[int, int], rng) -> None:
    """Smooth random colour images (upsampled noise: closer to photographs' compression than pixel noise)."""
    for index in range(count):
        coarse = rng.uniform(0, 255, (shape[0] // 8 + 1, shape[1] // 8 + 1, 3)).astype(np.float32)
        image = tf.image.resize(coarse, shape, method="bicubic")
        encoded = tf.io.encode_jpeg(tf.cast(tf.clip_by_value(image, 0, 255), tf.uint8), quality=90)
        tf.io.write_file(os.path.join(directory, f"{index:05d}.jpg"), encoded)


def pipeline_images_per_s(exp, jpeg_dir: str, steps: int) -> float:
    """Source images/s of the host pipeline (read, decode, per-view crops, batching) over the JPEG folder."""
    folder, _ = sources.load("folder", "train", manual_dir=jpeg_dir)
    batches = batch_streams.train_batches(
        dataclasses.replace(exp, train_source=folder), start_step=0, num_steps=steps + 1
    )
    next(batches)  # start-up (graph building, the first reads) is not throughput
    start = time.perf_counter()
    for _ in range(steps):
        next(batches)
    rows = len(sharding.process_rows(exp.mesh, exp.global_batch))
    return steps * rows / (time.perf_counter() - start)


def run_case(name: str, case: Case, size: str, steps: int, jpeg_dir: str, batch_per_device: int) -> dict:
    config = load_config(case.config + (",tiny=1" if size == "micro" else ""))
    config.train.dtype = "bfloat16"
    if size == "full":
        config.train.batch_size = (batch_per_device or case.batch_per_device) * jax.device_count()
    exp = experiment.prepare(config, data=synthetic_data(config.data.dataset))
    layout = run_state.state_layout(exp)
    state = run_state.create_state(exp, layout)
    batch = sharding.to_global(host_batch(exp, np.random.default_rng(0)), exp.mesh)
    train_step = run_state.compile_train_step(exp, layout).lower(state, batch).compile()
    flops = train_step.cost_analysis().get("flops")
    step_s, _ = seconds_per_step(train_step, state, batch, steps)
    device = jax.devices()[0]
    peak = peak_tflops(device.device_kind)
    images_per_s = exp.global_batch / step_s
    record = {
        "benchmark": "accelerator",
        "case": name,
        "config": case.config,
        "size": size,
        "backbone": config.model.backbone,
        "platform": device.platform,
        "device_kind": device.device_kind,
        "devices": jax.device_count(),
        "dtype": config.train.dtype,
        "global_batch": exp.global_batch,
        "views": len(exp.view_specs),
        "image_size": exp.image_size,
        "step_ms": round(step_s * 1e3, 2),
        "source_images_per_s": round(images_per_s, 1),
        "target_images_per_s": case.target_images_per_s if size == "full" else None,
        "xla_tflops_per_step_per_device": round(flops / 1e12, 6) if flops else None,
        "peak_bf16_tflops": peak,
        "mfu": round(flops / step_s / (peak * 1e12), 4) if flops and peak else None,
    }
    if exp.host_crop:
        decoded = pipeline_images_per_s(exp, jpeg_dir, steps)
        record.update(
            pipeline_images_per_s=round(decoded, 1), pipeline_headroom=round(decoded / images_per_s, 2)
        )
    return record


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {list(CASES)}")
    parser.add_argument("--size", choices=("full", "micro"), default="full")
    parser.add_argument("--steps", type=int, default=20, help="timed steps (and pipeline batches) per case")
    parser.add_argument("--jpegs", type=int, default=512, help="synthetic JPEGs for the pipeline's timing")
    parser.add_argument(
        "--batch_per_device", type=int, default=0, help="instead of each case's own (full size)"
    )
    args = parser.parse_args(argv)
    names = args.cases.split(",")
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        parser.error(f"unknown cases {unknown}; choose from {list(CASES)}")
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as jpeg_dir:
        write_jpegs(jpeg_dir, args.jpegs, JPEG_SHAPES[args.size], rng)
        for name in names:
            emit(run_case(name, CASES[name], args.size, args.steps, jpeg_dir, args.batch_per_device))


if __name__ == "__main__":
    main()
