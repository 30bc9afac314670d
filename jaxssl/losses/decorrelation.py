"""Losses that decorrelate embedding dimensions instead of contrasting examples."""

import jax
import jax.numpy as jnp


def off_diagonal_square_sum(matrix: jax.Array) -> jax.Array:
    """sum_{i != j} matrix_ij^2 of a square matrix."""
    off_diagonal = ~jnp.eye(matrix.shape[0], dtype=bool)
    return jnp.sum(jnp.where(off_diagonal, jnp.square(matrix), 0.0))


def standardize(z: jax.Array, eps: float = 1e-5) -> jax.Array:
    """(z - mean) / sqrt(var + eps) per column, with the biased (1/N) variance over the rows."""
    centred = z - jnp.mean(z, axis=0)
    return centred / jnp.sqrt(jnp.mean(jnp.square(centred), axis=0) + eps)


def barlow_twins(z1: jax.Array, z2: jax.Array, lambd: float = 5e-3) -> jax.Array:
    r"""Barlow Twins' redundancy-reduction loss on the cross-correlation of the two views' embeddings.

    Zbontar et al. 2021, "Barlow Twins: Self-Supervised Learning via Redundancy Reduction", eq. (1)-(2):

        C_ij = sum_n z1n_{n,i} z2n_{n,j} / N,
        L = sum_i (1 - C_ii)^2 + lambd * sum_i sum_{j != i} C_ij^2,

    where z1n, z2n are z1, z2 standardised per dimension over the batch: mean 0 and divided by
    sqrt(biased variance + 1e-5), as BatchNorm1d without affine parameters does in training mode.

    z1, z2: (N, D) embeddings of the two views; row n of each comes from the same image. Written for one
    global array: under jit over a sharded batch the statistics and C cover the whole global batch.
    """
    num_examples = z1.shape[0]
    z1 = standardize(z1.astype(jnp.float32))
    z2 = standardize(z2.astype(jnp.float32))
    cross_correlation = z1.T @ z2 / num_examples
    invariance = jnp.sum(jnp.square(1.0 - jnp.diagonal(cross_correlation)))
    return invariance + lambd * off_diagonal_square_sum(cross_correlation)


def variance_hinge(z: jax.Array, eps: float = 1e-4) -> jax.Array:
    """VICReg eq. (1)-(2): mean over dimensions of relu(1 - std), std from the unbiased variance."""
    std = jnp.sqrt(jnp.var(z, axis=0, ddof=1) + eps)
    return jnp.mean(jax.nn.relu(1.0 - std))


def covariance_penalty(z: jax.Array) -> jax.Array:
    """VICReg eq. (3)-(4): squared off-diagonal entries of the unbiased covariance matrix, summed, / D."""
    num_examples, dim = z.shape
    centred = z - jnp.mean(z, axis=0)
    covariance = centred.T @ centred / (num_examples - 1)
    return off_diagonal_square_sum(covariance) / dim


def vicreg(
    z1: jax.Array, z2: jax.Array, sim_coeff: float = 25.0, std_coeff: float = 25.0, cov_coeff: float = 1.0
) -> tuple[jax.Array, dict[str, jax.Array]]:
    r"""VICReg: invariance, variance and covariance terms on the two views' embeddings.

    Bardes et al. 2022, "VICReg: Variance-Invariance-Covariance Regularization for Self-Supervised
    Learning", eq. (1)-(6), for z of shape (N, D):

        v(z) = mean_d relu(1 - sqrt(Var_d(z) + 1e-4))            (unbiased variance, eq. 1-2)
        c(z) = sum_{i != j} Cov(z)_ij^2 / D,  Cov(z) = (z - mean)^T (z - mean) / (N - 1)   (eq. 3-4)
        s(z1, z2) = mean_{n,d} (z1 - z2)_{nd}^2                                            (eq. 5)
        L = sim_coeff * s + std_coeff * (v(z1) + v(z2)) / 2 + cov_coeff * (c(z1) + c(z2))  (eq. 6)

    (The paper writes s as a sum over n of squared distances / N; dividing by D as well, as its reference
    implementation's mean squared error does, is the scale the default coefficients are tuned for.)

    Returns (L, {"invariance": s, "variance": (v(z1) + v(z2)) / 2, "covariance": c(z1) + c(z2)}), the terms
    unweighted. Written for one global array: under jit over a sharded batch the statistics cover the
    whole global batch.
    """
    z1 = z1.astype(jnp.float32)
    z2 = z2.astype(jnp.float32)
    terms = {
        "invariance": jnp.mean(jnp.square(z1 - z2)),
        "variance": (variance_hinge(z1) + variance_hinge(z2)) / 2.0,
        "covariance": covariance_penalty(z1) + covariance_penalty(z2),
    }
    total = sim_coeff * terms["invariance"] + std_coeff * terms["variance"] + cov_coeff * terms["covariance"]
    return total, terms
