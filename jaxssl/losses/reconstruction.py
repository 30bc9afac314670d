"""Pixel reconstruction losses of masked image modelling, scored on the masked patches only."""

import jax
import jax.numpy as jnp


def normalize_patches(target: jax.Array, eps: float = 1e-6) -> jax.Array:
    """Each patch standardised by its own statistics: (t - mean) / sqrt(var + eps) over its p*p*C values,
    with the biased (1/n) variance."""
    mean = jnp.mean(target, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(target - mean), axis=-1, keepdims=True)
    return (target - mean) / jnp.sqrt(var + eps)


def mae_loss(pred: jax.Array, target: jax.Array, mask: jax.Array, norm_pix: bool = True) -> jax.Array:
    r"""MAE's reconstruction loss (He et al. 2022, section 3, "Reconstruction target"):

        L = sum_i m_i mse_i / sum_i m_i,      mse_i = mean_k (pred_ik - t_ik)^2,

    the mean squared error of each patch i over its p*p*C values, averaged over the masked patches
    (m_i = 1) of the whole batch. With `norm_pix` the target of each patch is its own pixels
    standardised by their mean and standard deviation ("normalized pixels", which the paper reports
    improves representations in its table 1 ablation): t = (x - mean) / sqrt(var + 1e-6), var the biased variance
    over the patch's values. (The paper does not say which variance; with p*p*C = 768 values the
    unbiased one differs by a factor 768/767.)

    pred, target: (B, L, p*p*C), target from `masking.patchify`; mask: (B, L), 1 on masked patches.
    Float32 reductions, on one global array.
    """
    pred = pred.astype(jnp.float32)
    target = target.astype(jnp.float32)
    mask = mask.astype(jnp.float32)
    if norm_pix:
        target = normalize_patches(target)
    per_patch = jnp.mean(jnp.square(pred - target), axis=-1)
    return jnp.sum(per_patch * mask) / jnp.sum(mask)


def simmim_loss(pred: jax.Array, target: jax.Array, mask: jax.Array) -> jax.Array:
    r"""SimMIM's L1 loss on masked pixels (Xie et al. 2022, eq. 1):

        L = || y_M - x_M ||_1 / Omega(x_M),

    the absolute error summed over every value (pixel and channel) of the masked patches, divided by
    their number, Omega(x_M) = (number of masked patches) * p*p*C.

    pred, target: (B, L, p*p*C); mask: (B, L), 1 on masked patches. Float32 reductions.
    """
    pred = pred.astype(jnp.float32)
    target = target.astype(jnp.float32)
    mask = mask.astype(jnp.float32)
    per_patch = jnp.sum(jnp.abs(pred - target), axis=-1)
    return jnp.sum(per_patch * mask) / (jnp.sum(mask) * pred.shape[-1])


def region_l2(pred: jax.Array, target: jax.Array, region: jax.Array) -> jax.Array:
    r"""The squared error of reconstructed pixels inside a region (Pathak et al. 2016, eq. 1, averaged; the
    whole image for a denoising autoencoder, Vincent et al. 2008, with the squared error for real inputs):

        L = sum_{b,h,w,c} M_{b,h,w} (pred - target)^2 / (C sum_{b,h,w} M_{b,h,w}),

    pred, target: (B, H, W, C) normalised pixels; region M: (B, H, W), 1 where the loss counts."""
    region = region.astype(jnp.float32)[..., None]
    squared = jnp.square(pred.astype(jnp.float32) - target.astype(jnp.float32))
    return jnp.sum(squared * region) / (jnp.sum(region) * pred.shape[-1])


def adversarial_terms(real_logits: jax.Array, fake_logits: jax.Array, fake_logits_frozen_critic: jax.Array):
    r"""The GAN terms of a context encoder (Pathak et al. 2016, eq. 2, with the usual non-saturating
    generator loss), written so that one minimisation trains both players:

        critic    = -mean log D(real) - mean log(1 - D(fake)),  the fake under stop-gradient
        generator = -mean log D(fake),                          the critic's params under stop-gradient

    D = sigmoid(logits). Returns (critic, generator); the caller stops the gradients as marked."""
    critic = jnp.mean(jax.nn.softplus(-real_logits)) + jnp.mean(jax.nn.softplus(fake_logits))
    return critic, jnp.mean(jax.nn.softplus(-fake_logits_frozen_critic))
