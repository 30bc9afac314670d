"""Top-k accuracy of class logits: the numbers a classifier's record holds."""

import jax.numpy as jnp
import numpy as np

TOP_K = (1, 5)  # top-5 only where a dataset has more than five classes (ImageNet's tables print both)


def ks_of(num_classes: int) -> tuple[int, ...]:
    """The k of TOP_K that say something for `num_classes` classes: top-5 of five classes is always 1."""
    return tuple(k for k in TOP_K if k == 1 or k < num_classes)


def top_k_hits(logits, labels, k: int):
    """bool (N,): whether each row's label is among its k largest logits (ties broken by the lower class,
    as argmax does). Works on numpy and JAX arrays, inside jit."""
    ranked = jnp.argsort(-jnp.asarray(logits), axis=-1, stable=True)[..., :k]
    return jnp.any(ranked == jnp.asarray(labels)[..., None], axis=-1)


def accuracies(logits, labels) -> dict[str, float]:
    """{"top1": ..., "top5": ...} of (N, C) logits against (N,) integer labels, top5 only where C > 5."""
    return {
        f"top{k}": float(np.mean(np.asarray(top_k_hits(logits, labels, k))))
        for k in ks_of(np.shape(logits)[-1])
    }
