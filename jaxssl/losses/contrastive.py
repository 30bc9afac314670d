"""Contrastive losses with in-batch negatives."""

import jax
import jax.numpy as jnp


def l2_normalize(x: jax.Array, axis: int = -1, eps: float = 1e-12) -> jax.Array:
    """x / max(||x||, eps) along `axis`."""
    norm = jnp.sqrt(jnp.sum(jnp.square(x), axis=axis, keepdims=True))
    return x / jnp.maximum(norm, eps)


def nt_xent(z1: jax.Array, z2: jax.Array, temperature: float) -> jax.Array:
    r"""SimCLR's normalized temperature-scaled cross entropy over the global batch.

    Chen et al. 2020, "A Simple Framework for Contrastive Learning of Visual Representations", eq. (1).
    With the 2N embeddings u = normalize([z1; z2]) and s_ij = u_i . u_j / temperature, each anchor i has
    one positive j(i) (the other view of the same image) and the 2N - 2 other views as negatives:

        l_i = -log( exp(s_{i,j(i)}) / sum_{k != i} exp(s_ik) ),      loss = mean_i l_i over all 2N anchors.

    z1, z2: (N, D) projections of the two views; row n of each comes from the same image. Written for one
    global array: under jit over a sharded batch the negatives span the whole global batch.
    """
    num_pairs = z1.shape[0]
    embeddings = l2_normalize(jnp.concatenate([z1, z2], axis=0).astype(jnp.float32))
    logits = embeddings @ embeddings.T / temperature
    self_mask = jnp.eye(2 * num_pairs, dtype=bool)
    logits = jnp.where(self_mask, -jnp.inf, logits)
    positives = jnp.concatenate([jnp.arange(num_pairs) + num_pairs, jnp.arange(num_pairs)])
    log_probs = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.mean(jnp.take_along_axis(log_probs, positives[:, None], axis=-1))
