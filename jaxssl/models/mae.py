"""Masked image modelling networks on a ViT: MAE (He et al. 2022) and SimMIM (Xie et al. 2022).

Both follow the network contract: `features(x01, train) -> (B, D)` (the ViT's pooled output on all
patches) is what evaluation uses, and `__call__(x01, train)` on a full image creates every parameter.
Masks and permutations come from `jaxssl.masking`, made outside the modules with static counts.
Pretraining-only parts (mask tokens, MAE's decoder, SimMIM's head) live here, the transferable ones
(patch and position embeddings, cls token, blocks) in the ViT.
"""

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxssl.models.network import normalize
from jaxssl.models.transformer import Block, dense, layer_norm, sincos_2d, token_init
from jaxssl.models.vit import ViT


class MAEDecoder(nn.Module):
    """MAE's lightweight decoder (He et al. 2022, section 3, "MAE decoder").

    The encoded visible tokens (cls first) are projected to `dim`; the learned `mask_token` fills the
    L - keep masked places; `ids_restore` unshuffles the sequence into patch order; the fixed 2-D sin-cos
    positions of the L patches are added (zeros for the cls); `depth` Transformer blocks, a LayerNorm and
    a Dense to `patch_dim` = p * p * C pixel values follow. Returns float32 (B, L, patch_dim), cls dropped.
    """

    patch_dim: int
    dim: int
    depth: int
    heads: int
    mlp_ratio: float = 4.0
    dtype: Any = jnp.float32

    def __post_init__(self):
        if min(self.patch_dim, self.dim, self.depth, self.heads) < 1 or self.dim % self.heads:
            raise ValueError(
                f"decoder sizes must be positive with dim divisible by heads, got patch_dim={self.patch_dim}, "
                f"dim={self.dim}, depth={self.depth}, heads={self.heads}"
            )
        if self.dim % 4:
            raise ValueError(f"2-D sin-cos positions need a decoder dim divisible by 4, got {self.dim}")
        super().__post_init__()

    @nn.compact
    def __call__(self, encoded, ids_restore, train: bool):
        batch, length = ids_restore.shape
        side = math.isqrt(length)
        if side * side != length:
            raise ValueError(f"the decoder expects a square patch grid, got {length} patches")
        x = dense(self.dim, self.dtype, "embed")(jnp.asarray(encoded, self.dtype))
        mask_token = self.param("mask_token", token_init, (1, 1, self.dim), jnp.float32).astype(self.dtype)
        masked = jnp.broadcast_to(mask_token, (batch, length + 1 - x.shape[1], self.dim))
        shuffled = jnp.concatenate([x[:, 1:], masked], axis=1)
        patches = jnp.take_along_axis(shuffled, ids_restore[:, :, None], axis=1)
        positions = np.zeros((1, 1 + length, self.dim), np.float32)
        positions[0, 1:] = sincos_2d(self.dim, (side, side))
        x = jnp.concatenate([x[:, :1], patches], axis=1) + jnp.asarray(positions, self.dtype)
        for index in range(self.depth):
            x = Block(self.dim, self.heads, self.mlp_ratio, 0.0, self.dtype, name=f"blocks_{index}")(x, train)
        x = layer_norm(self.dtype, "norm")(x)
        return dense(self.patch_dim, self.dtype, "pred")(x[:, 1:]).astype(jnp.float32)


class MAENetwork(nn.Module):
    """x in [0, 1] -> {"pred": (B, L, p*p*C) pixels of every patch, "features": (B, D)}.

    `__call__` normalises x with the dataset's mean and std, embeds all patches, keeps those in
    `ids_keep` (from `masking.random_masking`), encodes them and decodes with `ids_restore`. With both
    None every patch is kept in order, so `init` from a full image creates every parameter. "features"
    is the mean of the encoded visible patch tokens (float32).
    """

    backbone: ViT
    decoder_dim: int
    decoder_depth: int
    decoder_heads: int
    image_mean: tuple[float, ...]
    image_std: tuple[float, ...]

    def setup(self):
        channels = len(self.image_mean)
        self.decoder = MAEDecoder(
            self.backbone.patch_size**2 * channels,
            self.decoder_dim,
            self.decoder_depth,
            self.decoder_heads,
            dtype=self.backbone.dtype,
        )

    def features(self, x01, train: bool):
        """The ViT's pooled output on all patches of images in [0, 1]; what the probes evaluate."""
        return self.backbone(normalize(x01, self.image_mean, self.image_std), train=train)

    def feature_maps(self, x01, train: bool):
        """The ViT's per-block patch-token maps of images in [0, 1] (the per-layer probes)."""
        return self.backbone.feature_maps(normalize(x01, self.image_mean, self.image_std), train=train)

    def __call__(self, x01, train: bool, ids_keep=None, ids_restore=None):
        if (ids_keep is None) != (ids_restore is None):
            raise ValueError("pass both ids_keep and ids_restore, or neither")
        tokens = self.backbone.embed(normalize(x01, self.image_mean, self.image_std))
        batch, length, _ = tokens.shape
        if ids_keep is None:
            ids_keep = ids_restore = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), (batch, length))
        visible = jnp.take_along_axis(tokens, ids_keep[:, :, None], axis=1)
        encoded = self.backbone.encode(visible, train)
        pred = self.decoder(encoded, ids_restore, train)
        features = jnp.mean(encoded[:, 1:].astype(jnp.float32), axis=1)
        return {"pred": pred, "features": features}


class SimMIMNetwork(nn.Module):
    """SimMIM (Xie et al. 2022, section 3): x in [0, 1] -> {"pred": (B, L, p*p*C), "features": (B, D)}.

    The patch embeddings of masked patches (`mask` (B, L), 1 = masked, from `masking.block_mask`) are
    replaced by the learned `mask_token` before the positions are added; the ViT encodes all tokens;
    SimMIM's one-layer prediction head (a Dense per patch token, section 3.3) gives the p * p * C pixel
    values of each patch. "features" is the mean of the encoded patch tokens (float32); `features()` the
    ViT's pooled output on the unmasked image.
    """

    backbone: ViT
    image_mean: tuple[float, ...]
    image_std: tuple[float, ...]

    def setup(self):
        self.mask_token = self.param("mask_token", token_init, (1, 1, self.backbone.dim), jnp.float32)
        self.head = dense(self.backbone.patch_size**2 * len(self.image_mean), self.backbone.dtype)

    def features(self, x01, train: bool):
        """The ViT's pooled output on all patches of images in [0, 1]; what the probes evaluate."""
        return self.backbone(normalize(x01, self.image_mean, self.image_std), train=train)

    def feature_maps(self, x01, train: bool):
        """The ViT's per-block patch-token maps of images in [0, 1] (the per-layer probes)."""
        return self.backbone.feature_maps(normalize(x01, self.image_mean, self.image_std), train=train)

    def __call__(self, x01, train: bool, mask: jax.Array | None = None):
        x = normalize(x01, self.image_mean, self.image_std)
        tokens = self.backbone.patch_tokens(x)
        if mask is not None:
            token = self.mask_token.astype(tokens.dtype)
            tokens = jnp.where(mask[:, :, None] > 0, token, tokens)
        patch = self.backbone.patch_size
        tokens = tokens + self.backbone.position((x.shape[1] // patch, x.shape[2] // patch))
        encoded = self.backbone.encode(tokens, train)
        pred = self.head(encoded[:, 1:]).astype(jnp.float32)
        return {"pred": pred, "features": jnp.mean(encoded[:, 1:].astype(jnp.float32), axis=1)}
