"""Representation health: is the embedding spread out, or collapsing?

Computed on host (numpy) from a few thousand embeddings, online at every evaluation of a pretraining and
offline on a checkpoint.
"""

import numpy as np

# Collapse: the normalised features' per-dimension std below this fraction of an isotropic spread's
# 1 / sqrt(D) (SimSiam, Chen & He 2021, figure 2: a collapsed std is ~0, a healthy one ~1 / sqrt(D)), or an
# effective rank below COLLAPSE_RANK (every embedding on a line).
COLLAPSE_STD_FRACTION = 0.1
COLLAPSE_RANK = 2.0
UNIFORMITY_T = 2.0
ALIGNMENT_ALPHA = 2.0


def l2_normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def feature_spread(features: np.ndarray) -> dict:
    """Per-dimension std of the L2-normalised features, averaged over dimensions, and the smallest one
    (SimSiam, Chen & He 2021, section 4.1); an isotropic spread gives 1 / sqrt(D), collapse 0."""
    std = np.std(l2_normalize(features), axis=0)
    return {
        "feature_std_mean": float(np.mean(std)),
        "feature_std_min": float(np.min(std)),
        "feature_std_isotropic": float(1.0 / np.sqrt(features.shape[1])),
    }


def effective_rank(features: np.ndarray, eps: float = 1e-7) -> float:
    r"""RankMe (Garrido et al. 2023, eq. 1): the exponential of the entropy of the normalised singular values,

    RankMe(Z) = exp(-\sum_k p_k log p_k),  p_k = \sigma_k(Z) / ||\sigma(Z)||_1 + eps.

    Between 1 (rank one) and min(N, D) (all singular values equal)."""
    singular_values = np.linalg.svd(np.asarray(features, np.float64), compute_uv=False)
    p = singular_values / max(float(np.sum(singular_values)), 1e-12) + eps
    return float(np.exp(-np.sum(p * np.log(p))))


def alignment(features_a: np.ndarray, features_b: np.ndarray, alpha: float = ALIGNMENT_ALPHA) -> float:
    r"""Alignment of positive pairs (Wang & Isola 2020, eq. 4): E ||f(x) - f(y)||_2^alpha over the pairs
    (row i of a, row i of b), on L2-normalised features; 0 when both views embed identically, at most 2^alpha."""
    difference = l2_normalize(features_a) - l2_normalize(features_b)
    return float(np.mean(np.linalg.norm(difference, axis=1) ** alpha))


def uniformity(features: np.ndarray, t: float = UNIFORMITY_T) -> float:
    r"""Uniformity (Wang & Isola 2020, eq. 5): log E_{i < j} exp(-t ||f(x_i) - f(x_j)||_2^2) over distinct
    pairs of L2-normalised features; 0 when all coincide (collapse), more negative when spread out."""
    z = l2_normalize(features)
    squared = np.maximum(2.0 - 2.0 * (z @ z.T), 0.0)
    upper = np.triu_indices(len(z), k=1)
    exponent = -t * squared[upper]
    peak = exponent.max()
    return float(peak + np.log(np.mean(np.exp(exponent - peak))))


def health(features: np.ndarray, view_a: np.ndarray | None = None, view_b: np.ndarray | None = None) -> dict:
    """Spread, effective rank and uniformity of `features`, and the alignment of two views' features of the
    same images when given; `collapsed` is True when the spread or the rank says so."""
    result = {**feature_spread(features), "effective_rank": effective_rank(features)}
    result["uniformity"] = uniformity(features)
    if view_a is not None and view_b is not None:
        result["alignment"] = alignment(view_a, view_b)
    result["collapsed"] = bool(
        result["feature_std_mean"] < COLLAPSE_STD_FRACTION * result["feature_std_isotropic"]
        or result["effective_rank"] < COLLAPSE_RANK
    )
    return result


def collapse_message(result: dict) -> str:
    """A warning that says what collapsed and what to try; empty when the representation is healthy."""
    if not result.get("collapsed"):
        return ""
    return (
        f"the representation is collapsing: per-dimension std {result['feature_std_mean']:.4f} (isotropic "
        f"{result['feature_std_isotropic']:.4f}), effective rank {result['effective_rank']:.2f} of "
        f"{round(1 / result['feature_std_isotropic'] ** 2)} dimensions. Check the learning rate, the "
        "predictor or stop-gradient (SimSiam, BYOL), the EMA schedule and the loss's variance terms."
    )
