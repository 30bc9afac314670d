"""BYOL in your own training loop: jaxssl's asymmetric views, a network with a predictor, its EMA target
(jaxssl.ema) and BYOL's normalised regression loss under your optax step.

`python examples/byol_own_loop.py --steps=3 --micro` runs it in seconds on a CPU.
"""

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxssl import augment, ema, losses, models


def make_train_step(network, optimizer, views, total_steps: int, base_tau: float):
    """One jitted BYOL step. The target is an exponential moving average of the online variables (its
    predictor is carried but unused); each view runs as its own batch, as in the paper."""

    def forward(variables, images):
        return network.apply(variables, images, train=True, mutable=["batch_stats"])

    @jax.jit
    def train_step(online, target, opt_state, images, key, step):
        view_batches = augment.make_views(key, images[:, None], views)
        targets = [forward(target, view)[0]["projection"] for view in view_batches]  # outside the gradient

        def loss_fn(params):
            batch_stats, predictions = online["batch_stats"], []
            for view in view_batches:
                outputs, updates = forward({"params": params, "batch_stats": batch_stats}, view)
                batch_stats = updates["batch_stats"]
                predictions.append(outputs["prediction"])
            loss = losses.byol_loss(predictions[0], targets[1]) + losses.byol_loss(predictions[1], targets[0])
            return loss, batch_stats

        (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(online["params"])
        updates, opt_state = optimizer.update(grads, opt_state, online["params"])
        online = {"params": optax.apply_updates(online["params"], updates), "batch_stats": batch_stats}
        target = ema.update(target, online, ema.cosine_tau(step, total_steps, base_tau))
        return online, target, opt_state, loss

    return train_step


def main(argv=None) -> list[float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--micro", action="store_true", help="a tiny network, batch and data set: seconds")
    args = parser.parse_args(argv)
    batch, hidden, backbone = (32, 64, "resnet_micro") if args.micro else (256, 4096, "resnet18")
    images = np.random.default_rng(0).integers(0, 256, (4 * batch, 28, 28, 1), dtype=np.uint8)

    projector, predictor = (models.MLP(hidden_dims=(hidden,), out_dim=256) for _ in range(2))
    network = models.SSLNetwork(
        models.make_backbone(backbone),
        image_mean=(0.5,),
        image_std=(0.25,),
        projector=projector,
        predictor=predictor,
    )
    online = network.init(jax.random.key(0), jnp.zeros((2, 28, 28, 1)), train=False)
    optimizer = optax.adamw(optax.cosine_decay_schedule(1e-3, args.steps), weight_decay=1e-6)
    opt_state = optimizer.init(online["params"])
    views = augment.byol_views(size=28, min_crop_scale=0.2)
    train_step = make_train_step(network, optimizer, views, args.steps, base_tau=0.99)

    target, rng, history = online, np.random.default_rng(1), []
    for step in range(args.steps):
        chosen = rng.choice(len(images), batch, replace=False)
        key = jax.random.fold_in(jax.random.key(1), step)
        online, target, opt_state, loss = train_step(online, target, opt_state, images[chosen], key, step)
        history.append(float(loss))
        print(f"step {step} byol {history[-1]:.4f}")
    return history


if __name__ == "__main__":
    main()
