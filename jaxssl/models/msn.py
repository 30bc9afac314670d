"""MSN's network (Assran et al. 2022): a ViT whose [CLS] feature goes through a projection head and is scored
against learned prototypes; its anchor views may drop patch tokens.

The network follows the contract of models/network.py: `features(x01, train) -> (B, D)` (the ViT's pooled
output on every patch) is what evaluation and export read, and `__call__(x01, train)` on a full image
creates every parameter. The kept tokens come from `jaxssl.masking.random_masking`, made outside the module
with a static count.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxssl.models.heads import exact_gelu, hidden_stack
from jaxssl.models.network import normalize
from jaxssl.models.vit import ViT

prototype_init = nn.initializers.normal(1.0)


def prototype_scores(projection: jax.Array, prototypes: jax.Array) -> jax.Array:
    """(B, K) cosine similarities z / ||z|| . q_k / ||q_k|| of (B, d) projections to (K, d) prototypes."""
    unit = lambda x: x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)  # noqa: E731
    return unit(projection.astype(jnp.float32)) @ unit(prototypes.astype(jnp.float32)).T


class MSNProjector(nn.Module):
    """MSN's projection head: Dense -> [BN] -> GELU per hidden width, then Dense(out_dim); float32 output."""

    hidden_dims: tuple[int, ...]
    out_dim: int
    use_bn: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        x = hidden_stack(
            jnp.asarray(x, self.dtype), train, self.hidden_dims, self.use_bn, exact_gelu, self.dtype
        )
        return nn.Dense(self.out_dim, dtype=self.dtype, param_dtype=jnp.float32, name="out")(x).astype(
            jnp.float32
        )


class MSNNetwork(nn.Module):
    """x in [0, 1] -> {"features": (B, D), "projection": (B, d), "scores": (B, K)}.

    `__call__` normalises x, embeds every patch with its position, keeps the tokens at `ids_keep` (B, keep)
    when given (the masked anchor view; every token otherwise), encodes them with the ViT and sends the [CLS]
    output through the projector; "scores" are the projection's cosine similarities to the K learned
    `prototypes` (K, d). "features" is the ViT's pooled output of the tokens it saw (float32).
    """

    backbone: ViT
    projector: nn.Module
    num_prototypes: int
    image_mean: tuple[float, ...]
    image_std: tuple[float, ...]

    def features(self, x01, train: bool):
        """The ViT's pooled output on all patches of images in [0, 1]; what the probes evaluate."""
        return self.backbone(normalize(x01, self.image_mean, self.image_std), train=train)

    def feature_maps(self, x01, train: bool):
        """The ViT's per-block patch-token maps of images in [0, 1] (the per-layer probes)."""
        return self.backbone.feature_maps(normalize(x01, self.image_mean, self.image_std), train=train)

    @nn.compact
    def __call__(self, x01, train: bool, ids_keep=None):
        tokens = self.backbone.embed(normalize(x01, self.image_mean, self.image_std))
        if ids_keep is not None:
            tokens = jnp.take_along_axis(tokens, ids_keep[:, :, None], axis=1)
        encoded = self.backbone.encode(tokens, train).astype(jnp.float32)
        pooled = encoded[:, 0] if self.backbone.pool == "cls" else jnp.mean(encoded[:, 1:], axis=1)
        projection = self.projector(encoded[:, 0], train=train)
        prototypes = self.param("prototypes", prototype_init, (self.num_prototypes, projection.shape[-1]))
        return {
            "features": pooled,
            "projection": projection,
            "scores": prototype_scores(projection, prototypes),
        }
