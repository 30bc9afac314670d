"""Fine-tuning the network on each few-shot episode's support set, the "normal approach" of transfer
learning against which meta-learning is measured (Chen et al. 2019, "A Closer Look at Few-shot
Classification"; Dhillon et al. 2020, "A Baseline for Few-Shot Image Classification").

Each episode starts from the same weights: the backbone and a new linear head initialised as the
nearest-prototype classifier of the support features (Triantafillou et al. 2020, Proto-MAML: w_k = 2 c_k,
b_k = -||c_k||^2, whose logits are -||x - c_k||^2 up to a term common to all classes), so zero steps give
prototype classification. Both train for `steps` full-batch steps of SGD with momentum 0.9 on the support
set's cross-entropy, the network in inference mode (its BatchNorm statistics fixed: a handful of support
images is too few to estimate them, no dropout), on the centre view of the images.

Each episode is a pure function of the weights and its images; `parallel` of them run at once under vmap,
the groups one after another from Python, the steps unrolled. No loop of XLA's (scan, lax.map) holds the
network: XLA's CPU backend runs convolutions inside one an order of magnitude slower (measured on a
quarter-width ResNet-10 on 28 px images, 2-core AMD EPYC Zen 4, 2026-12-06: 5 steps of 25 images in 7.8 s
under scan, 0.4 s unrolled), and vmap over each episode's own weights makes grouped convolutions, slower
on a CPU than one episode after another (parallel=1) but what fills an accelerator.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxssl import augment


def prototype_head(support_features, ways: int) -> dict:
    """{"w" (D, ways), "b" (ways,)}: w_k = 2 c_k, b_k = -||c_k||^2 of the prototypes c_k of support rows
    ordered class by class."""
    prototypes = support_features.reshape(ways, -1, support_features.shape[-1]).mean(1)
    return {"w": 2.0 * prototypes.T, "b": -jnp.sum(prototypes**2, axis=-1)}


def make_episode_finetune(network, image_size: int, *, ways: int, steps: int, learning_rate: float):
    """(params, batch_stats, support images (E, S, H, W, C) uint8, query images (E, Q, H, W, C) uint8) ->
    (E, Q) predicted labels of the queries after fine-tuning on each episode's support set (rows class by
    class: support label of row i = i // (S / ways)), the E episodes under vmap. Jitted."""
    optimizer = optax.sgd(learning_rate, momentum=0.9)

    def features(params, batch_stats, images):
        views = augment.center_view(images, image_size)
        return network.apply(
            {"params": params, "batch_stats": batch_stats}, views, train=False, method=network.features
        ).astype(jnp.float32)

    def one_episode(params, batch_stats, support_images, query_images):
        labels = jnp.repeat(jnp.arange(ways), support_images.shape[0] // ways)
        weights = {
            "network": params,
            "head": prototype_head(features(params, batch_stats, support_images), ways),
        }

        def loss(w):
            logits = features(w["network"], batch_stats, support_images) @ w["head"]["w"] + w["head"]["b"]
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        def step(carry, _):
            w, opt_state = carry
            updates, opt_state = optimizer.update(jax.grad(loss)(w), opt_state, w)
            return (optax.apply_updates(w, updates), opt_state), None

        start = (weights, optimizer.init(weights))
        (weights, _), _ = jax.lax.scan(step, start, None, length=steps, unroll=True)
        logits = features(weights["network"], batch_stats, query_images) @ weights["head"]["w"]
        return jnp.argmax(logits + weights["head"]["b"], axis=-1)

    return jax.jit(jax.vmap(one_episode, in_axes=(None, None, 0, 0)))


def finetune_predictions(
    network, weights: tuple, images: np.ndarray, support, query, *, parallel: int, **options
) -> np.ndarray:
    """(E, Q) query predictions of make_episode_finetune(network, **options) on the episodes whose support
    and query rows (E, S) and (E, Q) index `images` (N, H, W, C) uint8, `parallel` episodes per call (the
    last call filled up with copies of the last episode); weights = (params, batch_stats)."""
    run = make_episode_finetune(network, **options)
    params, batch_stats = jax.device_get(weights)
    support, query = np.asarray(support), np.asarray(query)
    predictions = []
    for start in range(0, len(support), parallel):
        chunk = np.minimum(np.arange(start, start + parallel), len(support) - 1)
        out = run(params, batch_stats, images[support[chunk]], images[query[chunk]])
        predictions.append(np.asarray(out)[: len(support) - start])
    return np.concatenate(predictions)
