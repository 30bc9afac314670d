"""Classification losses: hard labels (the pretext tasks' made labels, the labelled rows of a semi-supervised
batch), colorization's class-rebalanced soft targets and Prototypical Networks' episodes."""

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


def prototype_logits(support: jax.Array, support_labels: jax.Array, query: jax.Array, ways: int) -> jax.Array:
    r"""Negative squared Euclidean distances (Q, ways) from each query row to each class prototype, the mean
    of the class's support rows (Snell, Swersky and Zemel 2017, "Prototypical Networks for Few-shot
    Learning", eq. 1):

        c_k = 1 / |S_k| sum_{i: y_i = k} f(x_i),    logits_{q,k} = -||f(x_q) - c_k||^2.

    support (S, D) and query (Q, D) embeddings, support_labels (S,) ints in [0, ways), each class present."""
    support, query = support.astype(jnp.float32), query.astype(jnp.float32)
    sums = jax.ops.segment_sum(support, support_labels, num_segments=ways)
    counts = jax.ops.segment_sum(
        jnp.ones_like(support_labels, jnp.float32), support_labels, num_segments=ways
    )
    prototypes = sums / counts[:, None]
    return -jnp.sum(jnp.square(query[:, None, :] - prototypes[None, :, :]), axis=-1)


def prototypical(
    support: jax.Array, support_labels: jax.Array, query: jax.Array, query_labels: jax.Array, ways: int
) -> jax.Array:
    r"""Prototypical Networks' episode loss (Snell, Swersky and Zemel 2017, eq. 2 and algorithm 1): the mean
    over the query rows of -log p(y = y_q | x_q), where

        p(y = k | x) = exp(-d(f(x), c_k)) / sum_k' exp(-d(f(x), c_k')),    d(z, z') = ||z - z'||^2,

    and c_k is class k's prototype (prototype_logits). support (S, D), support_labels (S,) and query_labels
    (Q,) ints in [0, ways), query (Q, D)."""
    logits = prototype_logits(support, support_labels, query, ways)
    return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, query_labels))
