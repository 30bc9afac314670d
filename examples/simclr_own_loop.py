"""SimCLR in your own training loop: jaxssl's views, backbone, projector and NT-Xent under your optax step.

`python examples/simclr_own_loop.py --steps=3 --micro` runs it in seconds on a CPU; `--save-features=F.npz`
writes the trained backbone's features of the toy images for examples/evaluate_features.py.
"""

import argparse
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxssl import augment, losses, models, optim, schedules


def toy_images(num_images: int, num_classes: int = 10, seed: int = 0):
    """Fashion-MNIST-shaped uint8 images (N, 28, 28, 1) and labels (N,): a blocky random template per class
    under noise. Stand-ins for your own arrays."""
    rng = np.random.default_rng(seed)
    templates = rng.uniform(0, 255, (num_classes, 7, 7, 1)).repeat(4, axis=1).repeat(4, axis=2)
    labels = rng.integers(0, num_classes, num_images)
    noisy = templates[labels] + rng.normal(0, 40, (num_images, 28, 28, 1))
    return np.clip(noisy, 0, 255).astype(np.uint8), labels


def make_train_step(network, optimizer, views, temperature: float):
    """One jitted SimCLR step: two augmented views of uint8 images, one forward pass over both, NT-Xent."""

    @jax.jit
    def train_step(variables, opt_state, images, key):
        both_views = jnp.concatenate(augment.make_views(key, images[:, None], views))

        def loss_fn(params):
            trained = {"params": params, "batch_stats": variables["batch_stats"]}
            outputs, updates = network.apply(trained, both_views, train=True, mutable=["batch_stats"])
            z1, z2 = jnp.split(outputs["projection"], 2)
            return losses.nt_xent(z1, z2, temperature), updates["batch_stats"]

        params = variables["params"]
        (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return {"params": optax.apply_updates(params, updates), "batch_stats": batch_stats}, opt_state, loss

    return train_step


def main(argv=None) -> list[float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--micro", action="store_true", help="a tiny network, batch and data set: seconds")
    parser.add_argument("--save-features", help="an .npz of train/test features and labels to write")
    args = parser.parse_args(argv)
    batch, hidden, backbone_name = (32, 64, "resnet_micro") if args.micro else (256, 2048, "resnet18")
    images, labels = toy_images(4 * batch if args.micro else 8192)

    backbone, projector = models.make_backbone(backbone_name), models.MLP(hidden_dims=(hidden,), out_dim=128)
    network = models.SSLNetwork(
        backbone, image_mean=(0.5,), image_std=(0.25,), projector=projector, predictor=None
    )
    views = augment.simclr_views(size=28, min_crop_scale=0.2)
    variables = network.init(jax.random.key(0), jnp.zeros((2, 28, 28, 1)), train=False)
    schedule = schedules.warmup_cosine(schedules.scaled_learning_rate(0.3, batch, "linear"), args.steps, 10)
    optimizer = optim.make_optimizer("lars", schedule, weight_decay=1e-6)
    opt_state = optimizer.init(variables["params"])
    train_step = make_train_step(network, optimizer, views, temperature=0.5)

    rng, history = np.random.default_rng(1), []
    for step in range(args.steps):
        chosen = rng.choice(len(images), batch, replace=False)
        key = jax.random.fold_in(jax.random.key(1), step)
        variables, opt_state, loss = train_step(variables, opt_state, images[chosen], key)
        history.append(float(loss))
        print(f"step {step} nt_xent {history[-1]:.4f}")

    if args.save_features:
        embed = jax.jit(functools.partial(network.apply, train=False, method="features"))
        chunks = [augment.center_view(images[i : i + batch], 28) for i in range(0, len(images), batch)]
        features = np.concatenate([embed(variables, chunk) for chunk in chunks])
        half = len(images) // 2
        np.savez(
            args.save_features,
            train_features=features[:half],
            train_labels=labels[:half],
            test_features=features[half:],
            test_labels=labels[half:],
        )
        print(f"saved features {features.shape} to {args.save_features}")
    return history


if __name__ == "__main__":
    main()
