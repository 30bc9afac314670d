"""The checks every selection rule makes of its input before it computes: one ValueError each, naming what
is wrong."""

import numpy as np

DISTRIBUTION_TOLERANCE = 1e-3  # how far a row of probabilities may sum from 1 (float16/float32 softmax)


def check_probabilities(probs, ndim: int, name: str = "probs") -> np.ndarray:
    """`probs` as float32 with class probabilities on its last axis, or ValueError when it has not `ndim` axes,
    or a row holds a non-finite or negative value or does not sum to 1."""
    probs = np.asarray(probs, np.float32)
    if probs.ndim != ndim or 0 in probs.shape:
        raise ValueError(f"{name} must be a non-empty array with {ndim} axes, got shape {probs.shape}")
    if not np.all(np.isfinite(probs)):
        raise ValueError(f"{name} holds non-finite values: class probabilities are finite")
    if np.any(probs < 0):
        raise ValueError(f"{name} holds negative values (smallest {probs.min():.4g}): not probabilities")
    sums = probs.sum(axis=-1)
    worst = np.unravel_index(np.argmax(np.abs(sums - 1)), sums.shape)
    if abs(sums[worst] - 1) > DISTRIBUTION_TOLERANCE:
        raise ValueError(
            f"{name}[{', '.join(map(str, worst))}] sums to {sums[worst]:.4g}, not 1: each row must be a "
            "distribution over the classes (softmax the logits first)"
        )
    return probs


def check_labelled(labelled, pool_size: int) -> np.ndarray:
    """`labelled` as an int64 array of distinct rows of a pool of `pool_size` rows (it may be empty), or
    ValueError."""
    array = np.asarray(labelled)
    if array.ndim != 1 or (array.size and not np.issubdtype(array.dtype, np.integer)):
        raise ValueError(
            f"labelled must be a 1-D array of row indices, got dtype {array.dtype}, shape {array.shape}"
        )
    array = array.astype(np.int64)
    outside = array[(array < 0) | (array >= pool_size)]
    if outside.size:
        raise ValueError(f"labelled index {int(outside[0])} is outside the pool's rows 0..{pool_size - 1}")
    values, counts = np.unique(array, return_counts=True)
    if np.any(counts > 1):
        raise ValueError(
            f"labelled index {int(values[counts > 1][0])} is repeated: each row is labelled once"
        )
    return array


def check_pool(features, labelled, budget) -> tuple[np.ndarray, np.ndarray]:
    """(features as float32 (N, D), labelled as check_labelled's) after checking that `budget` is an int >= 1
    that the unlabelled rows can fill; ValueError otherwise."""
    features = np.asarray(features, np.float32)
    if features.ndim != 2 or not len(features):
        raise ValueError(f"features must be a non-empty (N, D) array, got shape {features.shape}")
    if not np.all(np.isfinite(features)):
        raise ValueError("features hold non-finite values")
    labelled = check_labelled(labelled, len(features))
    if not isinstance(budget, (int, np.integer)) or isinstance(budget, bool) or budget < 1:
        raise ValueError(f"budget must be an int >= 1, got {budget!r}")
    unlabelled = len(features) - len(labelled)
    if budget > unlabelled:
        raise ValueError(
            f"budget {budget} is larger than the unlabelled pool ({unlabelled} of {len(features)} rows)"
        )
    return features, labelled


def check_delta(delta) -> float:
    """`delta` as a float, or ValueError unless it is finite and positive."""
    if not np.isfinite(delta) or delta <= 0:
        raise ValueError(f"delta must be a positive finite ball radius, got {delta!r}")
    return float(delta)
