"""Weighted k-nearest-neighbour classification on frozen features."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxssl.losses import l2_normalize

# The grid papers report (InstDisc's and DINO's k = 20 or 200 with T = 0.07 among them).
GRID_KS = (1, 5, 20, 50, 200)
GRID_TEMPERATURES = (0.02, 0.07, 0.1, 0.5)


@functools.partial(jax.jit, static_argnames=("num_classes", "k"))
def knn_scores(bank_features, bank_labels, query_features, *, num_classes: int, k: int, temperature: float):
    r"""Class scores of a temperature-weighted cosine kNN vote (Wu et al. 2018, InstDisc, eq. (8)):

    score_c(q) = sum_{i in top-k(q)} exp(cos(q, x_i) / T) [y_i = c].
    """
    similarity = l2_normalize(query_features) @ l2_normalize(bank_features).T
    top_similarity, top_index = jax.lax.top_k(similarity, k)
    weights = jnp.exp(top_similarity / temperature)
    votes = jax.nn.one_hot(bank_labels[top_index], num_classes) * weights[..., None]
    return jnp.sum(votes, axis=1)


@functools.partial(jax.jit, static_argnames=("num_classes", "ks"))
def grid_predictions(bank_features, bank_labels, query_features, temperatures, *, num_classes: int, ks):
    """Predicted classes (len(ks), len(temperatures), Q) of the vote of knn_scores for every (k, T): one
    similarity matrix and one top-max(k) per query chunk serve the whole grid. Weights are taken relative to
    each query's nearest neighbour, exp((cos - cos_max) / T), which leaves every vote's argmax unchanged and
    keeps exp finite at small T."""
    similarity = l2_normalize(query_features) @ l2_normalize(bank_features).T
    top_similarity, top_index = jax.lax.top_k(similarity, max(ks))
    # The max, not top_similarity[:, :1]: XLA on CPU turns that slice of top_k into a ~40x slower program.
    relative = top_similarity - jnp.max(top_similarity, axis=1, keepdims=True)
    neighbours = jax.nn.one_hot(bank_labels[top_index], num_classes)
    predictions = []
    for k in ks:
        weights = jnp.exp(relative[:, :k, None] / temperatures[None, None, :])
        scores = jnp.einsum("qkt,qkc->tqc", weights, neighbours[:, :k])
        predictions.append(jnp.argmax(scores, axis=-1))
    return jnp.stack(predictions)


def knn_grid(
    bank_features,
    bank_labels,
    query_features,
    query_labels,
    *,
    num_classes: int,
    ks=GRID_KS,
    temperatures=GRID_TEMPERATURES,
    chunk: int = 1024,
) -> dict[tuple[int, float], float]:
    """Top-1 accuracy of the weighted kNN vote for every (k, T) of the grid; queries in chunks so the
    similarity matrix stays small. Bank examples without a label (label < 0) are left out; k larger than the
    bank is cut to the bank's size."""
    labelled = np.asarray(bank_labels) >= 0
    bank_features = jnp.asarray(np.asarray(bank_features)[labelled], jnp.float32)
    bank_labels = jnp.asarray(np.asarray(bank_labels)[labelled])
    usable_ks = tuple(min(k, bank_features.shape[0]) for k in ks)
    query_labels = np.asarray(query_labels)
    correct = np.zeros((len(ks), len(temperatures)), np.int64)
    for start in range(0, len(query_labels), chunk):
        predictions = grid_predictions(
            bank_features,
            bank_labels,
            jnp.asarray(query_features[start : start + chunk], jnp.float32),
            jnp.asarray(temperatures, jnp.float32),
            num_classes=num_classes,
            ks=usable_ks,
        )
        correct += np.sum(np.asarray(predictions) == query_labels[None, None, start : start + chunk], axis=-1)
    total = max(len(query_labels), 1)
    return {
        (k, t): float(correct[i, j] / total) for i, k in enumerate(ks) for j, t in enumerate(temperatures)
    }


def knn_top1(
    bank_features, bank_labels, query_features, query_labels, *, num_classes: int, k: int, temperature: float
) -> float:
    """Top-1 accuracy of the weighted kNN vote with one (k, T)."""
    grid = knn_grid(
        bank_features,
        bank_labels,
        query_features,
        query_labels,
        num_classes=num_classes,
        ks=(k,),
        temperatures=(temperature,),
    )
    return grid[(k, temperature)]
