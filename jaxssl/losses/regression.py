"""Losses that regress one view's embedding onto another's, without negatives."""

import jax
import jax.numpy as jnp

from jaxssl.losses.contrastive import l2_normalize


def byol_loss(p: jax.Array, z: jax.Array) -> jax.Array:
    r"""BYOL's normalized mean squared error for one direction, averaged over the batch.

    Grill et al. 2020, "Bootstrap Your Own Latent", eq. (2):

        L = mean_n || p_n/||p_n|| - z_n/||z_n|| ||^2 = mean_n (2 - 2 cos(p_n, z_n)).

    p: (N, D) online predictions; z: (N, D) target projections. The caller applies `stop_gradient` to z and
    symmetrises (the paper's total loss swaps the views and adds the two directions).
    """
    p = l2_normalize(p.astype(jnp.float32))
    z = l2_normalize(z.astype(jnp.float32))
    return jnp.mean(2.0 - 2.0 * jnp.sum(p * z, axis=-1))


def simsiam_loss(p: jax.Array, z: jax.Array) -> jax.Array:
    r"""SimSiam's negative cosine similarity for one direction, averaged over the batch.

    Chen & He 2021, "Exploring Simple Siamese Representation Learning", eq. (1):

        D(p, z) = -(p / ||p||) . (z / ||z||),      L = mean_n D(p_n, z_n),  in [-1, 1].

    p: (N, D) predictions; z: (N, D) projections of the other view. The caller applies `stop_gradient` to z
    and symmetrises (eq. 2 and 3: L = D(p1, sg(z2)) / 2 + D(p2, sg(z1)) / 2).
    """
    p = l2_normalize(p.astype(jnp.float32))
    z = l2_normalize(z.astype(jnp.float32))
    return -jnp.mean(jnp.sum(p * z, axis=-1))
