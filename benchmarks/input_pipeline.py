"""Host input pipeline throughput against what the training step consumes.

  python -m benchmarks.input_pipeline --config=configs/quickstart.py:method=simclr --steps=50 --step_ms=1766

Prints one JSON line: batches/s and examples/s the tf.data pipeline delivers alone (read, per-view host crops
for large images, per-process slicing, prefetch), and, given the step time measured by
benchmarks/step_overhead.py, the headroom (pipeline examples/s over step examples/s; above 1 the step never waits).
"""

import argparse
import time

import jax

from benchmarks.common import emit, load_config
from jaxssl import batch_streams, experiment


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--step_ms", type=float, default=0.0, help="the step time to compare with (ms)")
    args = parser.parse_args()
    config = load_config(args.config)
    exp = experiment.prepare(config)
    batches = batch_streams.train_batches(
        exp, start_step=0, num_steps=args.steps + 1, prefetch=config.data.prefetch
    )
    next(batches)  # the pipeline's start-up (graph building, first read) is not throughput
    start = time.perf_counter()
    for _ in range(args.steps):
        next(batches)
    seconds = time.perf_counter() - start
    examples_per_s = args.steps * exp.global_batch / seconds
    record = {
        "benchmark": "input_pipeline",
        "config": args.config,
        "dataset": exp.info.name,
        "global_batch": exp.global_batch,
        "host_crop": exp.host_crop,
        "processes": jax.process_count(),
        "batches_per_s": round(args.steps / seconds, 2),
        "examples_per_s": round(examples_per_s, 1),
    }
    if args.step_ms > 0:
        step_examples_per_s = exp.global_batch / (args.step_ms / 1e3)
        record.update(
            step_examples_per_s=round(step_examples_per_s, 1),
            headroom=round(examples_per_s / step_examples_per_s, 2),
        )
    emit(record)


if __name__ == "__main__":
    main()
