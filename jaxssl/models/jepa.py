"""I-JEPA's networks (Assran et al. 2023): a ViT context encoder and the narrow ViT predictor.

The network follows the contract of models/network.py: `features(x01, train) -> (B, D)` (the ViT's pooled
output on every patch) is what evaluation and export read, and `__call__(x01, train)` on a full image
creates every parameter. The context and target token positions come from `jaxssl.masking`, made outside the
modules with static counts. The transferable part (patch and position embeddings, cls token, blocks) lives
in the ViT, the pretraining-only predictor here.
"""

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxssl.models.network import normalize
from jaxssl.models.transformer import Block, dense, layer_norm, sincos_2d, token_init
from jaxssl.models.vit import ViT


class JEPAPredictor(nn.Module):
    """I-JEPA's predictor (Assran et al. 2023, section 3, "Predictor"): a narrow ViT.

    The encoded context tokens (B, Kc, D) are projected to `dim` and get the predictor's fixed 2-D sin-cos
    positions of their places on the `grid`; for each of the M target blocks, K learned `mask_token`s with the
    positions of that block's tokens are appended, and the `depth` Transformer blocks, a LayerNorm and a Dense
    back to `out_dim` run on [context, block's mask tokens]; the outputs at the mask tokens are the
    predictions. The M blocks are M sequences of one batch, as the paper runs the predictor once per block.
    Returns float32 (B, M, K, out_dim).
    """

    grid: tuple[int, int]
    dim: int
    depth: int
    heads: int
    out_dim: int
    mlp_ratio: float = 4.0
    dtype: Any = jnp.float32

    def __post_init__(self):
        if min(self.dim, self.depth, self.heads, self.out_dim) < 1 or self.dim % self.heads:
            raise ValueError(
                f"predictor sizes must be positive with dim divisible by heads, got dim={self.dim}, "
                f"depth={self.depth}, heads={self.heads}"
            )
        if self.dim % 4:
            raise ValueError(f"2-D sin-cos positions need a predictor dim divisible by 4, got {self.dim}")
        super().__post_init__()

    @nn.compact
    def __call__(self, context, context_ids, target_ids, train: bool):
        batch, blocks, count = target_ids.shape
        positions = jnp.asarray(sincos_2d(self.dim, self.grid), self.dtype)
        x = dense(self.dim, self.dtype, "embed")(jnp.asarray(context, self.dtype)) + positions[context_ids]
        mask_token = self.param("mask_token", token_init, (1, 1, self.dim), jnp.float32).astype(self.dtype)
        queries = mask_token + positions[target_ids.reshape(batch * blocks, count)]
        x = jnp.repeat(x, blocks, axis=0)  # image b's context, once per block: rows b * M .. b * M + M - 1
        x = jnp.concatenate([x, queries], axis=1)
        for index in range(self.depth):
            x = Block(self.dim, self.heads, self.mlp_ratio, 0.0, self.dtype, name=f"blocks_{index}")(x, train)
        x = layer_norm(self.dtype, "norm")(x[:, -count:])
        out = dense(self.out_dim, self.dtype, "proj")(x).astype(jnp.float32)
        return out.reshape(batch, blocks, count, self.out_dim)


class IJEPANetwork(nn.Module):
    """x in [0, 1] -> {"pred": (B, M, K, D) predicted target features, "features": (B, D)}.

    `__call__` normalises x, embeds every patch with its position, encodes the tokens at `context_ids`
    (B, Kc) with the ViT (the context encoder; its cls token is dropped before the predictor) and predicts the
    features at `target_ids` (B, M, K). With both None the context is every token and the one target block
    too, so `init` from a full image creates every parameter. "features" is the mean of the encoded context
    tokens (float32). `target_tokens` is the target encoder's forward: every patch token of the whole image.
    """

    backbone: ViT
    predictor_dim: int
    predictor_depth: int
    predictor_heads: int
    image_mean: tuple[float, ...]
    image_std: tuple[float, ...]

    def features(self, x01, train: bool):
        """The ViT's pooled output on all patches of images in [0, 1]; what the probes evaluate."""
        return self.backbone(normalize(x01, self.image_mean, self.image_std), train=train)

    def feature_maps(self, x01, train: bool):
        """The ViT's per-block patch-token maps of images in [0, 1] (the per-layer probes)."""
        return self.backbone.feature_maps(normalize(x01, self.image_mean, self.image_std), train=train)

    def target_tokens(self, x01, train: bool):
        """(B, L, D) float32: the ViT's encoded patch tokens of the whole image, cls dropped."""
        tokens = self.backbone.embed(normalize(x01, self.image_mean, self.image_std))
        return self.backbone.encode(tokens, train)[:, 1:].astype(jnp.float32)

    @nn.compact
    def __call__(self, x01, train: bool, context_ids=None, target_ids=None):
        if (context_ids is None) != (target_ids is None):
            raise ValueError("pass both context_ids and target_ids, or neither")
        patch = self.backbone.patch_size
        grid = (x01.shape[1] // patch, x01.shape[2] // patch)
        tokens = self.backbone.embed(normalize(x01, self.image_mean, self.image_std))
        batch, length, _ = tokens.shape
        if context_ids is None:
            context_ids = jnp.broadcast_to(jnp.arange(length, dtype=jnp.int32), (batch, length))
            target_ids = context_ids[:, None]
        context = jnp.take_along_axis(tokens, context_ids[:, :, None], axis=1)
        encoded = self.backbone.encode(context, train)[:, 1:]
        predictor = JEPAPredictor(
            grid,
            self.predictor_dim,
            self.predictor_depth,
            self.predictor_heads,
            self.backbone.dim,
            dtype=self.backbone.dtype,
            name="predictor",
        )
        pred = predictor(encoded, context_ids, target_ids, train)
        return {"pred": pred, "features": jnp.mean(encoded.astype(jnp.float32), axis=1)}
