"""Weighted k-nearest-neighbour classification on frozen features."""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxssl.losses import l2_normalize


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


def knn_top1(
    bank_features,
    bank_labels,
    query_features,
    query_labels,
    *,
    num_classes: int,
    k: int,
    temperature: float,
    chunk: int = 1024,
) -> float:
    """Top-1 accuracy of the weighted kNN vote; queries in chunks so the similarity matrix stays small.
    Bank examples without a label (label < 0) are left out."""
    labelled = np.asarray(bank_labels) >= 0
    bank_features = jnp.asarray(np.asarray(bank_features)[labelled], jnp.float32)
    bank_labels = jnp.asarray(np.asarray(bank_labels)[labelled])
    k = min(k, bank_features.shape[0])
    correct = 0
    for start in range(0, len(query_labels), chunk):
        scores = knn_scores(
            bank_features,
            bank_labels,
            jnp.asarray(query_features[start : start + chunk], jnp.float32),
            num_classes=num_classes,
            k=k,
            temperature=temperature,
        )
        correct += int(
            np.sum(np.argmax(np.asarray(scores), -1) == np.asarray(query_labels[start : start + chunk]))
        )
    return correct / max(len(query_labels), 1)
