"""I-JEPA's loss: the predictor's output regressed onto the target encoder's normalised features of the
target blocks."""

import jax
import jax.numpy as jnp

DISTANCES = ("smooth_l1", "l2")


def feature_layer_norm(x: jax.Array, eps: float = 1e-6) -> jax.Array:
    """Each token's features standardised over its channels, (x - mean) / sqrt(var + eps): a LayerNorm
    without scale or offset."""
    x = x.astype(jnp.float32)
    mean = jnp.mean(x, axis=-1, keepdims=True)
    return (x - mean) / jnp.sqrt(jnp.var(x, axis=-1, keepdims=True) + eps)


def ijepa(
    predictions: jax.Array, target_tokens: jax.Array, target_ids: jax.Array, distance: str = "smooth_l1"
) -> jax.Array:
    r"""I-JEPA's prediction loss over the target blocks of each image.

    Assran et al. 2023, "Self-Supervised Learning from Images with a Joint-Embedding Predictive Architecture",
    section 3, "Loss": for M target blocks B_i with the target encoder's features s_y of the whole image,
    normalised per token (a LayerNorm without affine, as the paper's target encoder output is),

        L = 1/M sum_{i=1}^{M} sum_{j in B_i} D(s^_{y_j}, s_{y_j}),

    where s^ is the predictor's output. The paper's D is the squared L2 distance; its released recipe uses the
    smooth L1 one. Here D is applied per channel and averaged over the blocks, their tokens and the channels
    (the paper's sum over a block is a constant factor K x D away): "l2" the squared difference, "smooth_l1"
    0.5 d^2 for |d| < 1 and |d| - 0.5 otherwise.

    predictions: (B, M, K, D) the predictor's output at the K tokens of each target block; target_tokens:
    (B, L, D) the target encoder's patch tokens of the whole image (normalised here, under stop_gradient);
    target_ids: (B, M, K) int, the positions of each block's tokens among the L.
    """
    if distance not in DISTANCES:
        raise ValueError(f"unknown distance {distance!r}; choose from {DISTANCES}")
    targets = jax.lax.stop_gradient(feature_layer_norm(target_tokens))
    rows = jnp.arange(targets.shape[0])[:, None, None]
    difference = predictions.astype(jnp.float32) - targets[rows, target_ids]
    if distance == "l2":
        return jnp.mean(jnp.square(difference))
    size = jnp.abs(difference)
    return jnp.mean(jnp.where(size < 1.0, 0.5 * jnp.square(difference), size - 0.5))
