r"""SSL step time against the bare forward+backward of the same backbone on the same views.

  python -m benchmarks.step_overhead --config=configs/quickstart.py:method=simclr --batch=256
  python -m benchmarks.step_overhead --config=configs/quickstart.py:method=mae,backbone=vit_tiny \
      --override=model.patch_size=4

Prints one JSON line: the full step (augmentation, method loss with heads and target, probe, optimizer,
EMA), on-device augmentation alone, and the backbone's forward+backward on the same number of views; the
overhead ratio is step / bare. The step is run on its own input (not donated) so it can be repeated.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import emit, load_config, seconds_per_call
from jaxssl import augment, experiment, run_state, sharding


def override(config, item: str) -> None:
    """config[block][key] = value from 'block.key=value', the value converted to the field's type."""
    path, _, value = item.partition("=")
    block, _, key = path.partition(".")
    config[block][key] = type(config[block][key])(value)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--override", action="append", default=[], help="block.key=value over the config (repeatable)"
    )
    args = parser.parse_args()
    config = load_config(args.config)
    for item in args.override:
        override(config, item)
    config.train.batch_size = args.batch
    exp = experiment.prepare(config)
    state = run_state.create_state(exp, run_state.state_layout(exp))
    height, width, channels = exp.info.image_shape
    rng = np.random.default_rng(0)
    host = {
        "image": rng.integers(0, 256, (args.batch, 1, height, width, channels), dtype=np.uint8),
        "label": rng.integers(0, 10, (args.batch,), dtype=np.int32),
        "index": np.arange(args.batch, dtype=np.int32),
    }
    batch = sharding.to_global(host, exp.mesh)
    key = jax.random.key(0)

    train_step = jax.jit(run_state.train_step_fn(exp))
    make_views = jax.jit(lambda images: augment.make_views(key, images, exp.view_specs))
    views = make_views(batch["image"])
    network = exp.method.network

    def bare_loss(params, batch_stats, images):
        outputs, _ = network.apply(
            {"params": params, "batch_stats": batch_stats},
            images,
            train=True,
            mutable=["batch_stats"],
            method=network.features,
        )
        return jnp.mean(outputs)

    bare = jax.jit(jax.grad(bare_loss))
    all_views = jnp.concatenate(views)
    step_s = seconds_per_call(train_step, state, batch, repeats=args.repeats)
    augment_s = seconds_per_call(make_views, batch["image"], repeats=args.repeats)
    bare_s = seconds_per_call(bare, state.params["model"], state.batch_stats, all_views, repeats=args.repeats)
    emit(
        {
            "benchmark": "step_overhead",
            "config": args.config,
            "overrides": args.override,
            "method": exp.method.name,
            "backbone": config.model.backbone,
            "width_multiplier": config.model.get("width_multiplier"),
            "batch": args.batch,
            "views": len(exp.view_specs),
            "devices": jax.device_count(),
            "platform": jax.devices()[0].platform,
            "step_ms": round(step_s * 1e3, 1),
            "augment_ms": round(augment_s * 1e3, 1),
            "bare_forward_backward_ms": round(bare_s * 1e3, 1),
            "overhead_ratio": round(step_s / bare_s, 3),
            "augment_share_of_step": round(augment_s / step_s, 3),
            "examples_per_s": round(args.batch / step_s, 1),
        }
    )


if __name__ == "__main__":
    main()
