"""Classification losses: hard labels (the pretext tasks' made labels, the labelled rows of a semi-supervised
batch) and colorization's class-rebalanced soft targets."""

import jax
import jax.numpy as jnp
import optax


def hard_label_cross_entropy(logits: jax.Array, labels: jax.Array) -> tuple[jax.Array, jax.Array]:
    r"""Mean softmax cross-entropy of logits (N, K) against integer labels (N,), and the top-1 accuracy (a
    float32 scalar in [0, 1]) of the same predictions:

        L = -mean_n log softmax(logits_n)[labels_n].

    Every label must be a class (none -1): the labels a pretext transform made (a rotation, a permutation
    index, a neighbour's position), or the labelled rows of a semi-supervised batch."""
    logits = logits.astype(jnp.float32)
    value = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, labels))
    return value, jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))


def rebalanced_cross_entropy(logits: jax.Array, targets: jax.Array, weights: jax.Array) -> jax.Array:
    r"""Colorization's class-rebalanced multinomial cross-entropy (Zhang, Isola and Efros 2016, eq. 2):

        L = -mean_{n,h,w} v(Z_{h,w}) sum_q Z_{h,w,q} log softmax(logits_{h,w})_q,   v(Z) = w_{argmax_q Z},

    logits (..., Q), targets Z (..., Q) soft-encoded ab distributions, weights w (Q,) the rebalancing
    weights (augment.pretext.rebalancing_weights): rare, saturated colours count more than common,
    desaturated ones."""
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    per_position = -jnp.sum(targets * log_probs, axis=-1)
    return jnp.mean(weights[jnp.argmax(targets, axis=-1)] * per_position)
