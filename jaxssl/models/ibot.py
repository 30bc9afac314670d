"""iBOT's network (Zhou et al. 2022): a ViT whose masked patch embeddings are replaced by a learned mask token,
with a head on the [CLS] token and a head (the same one, or its own) on every patch token.

The network contract: `features(x01, train) -> (B, D)` is the ViT's pooled output on the whole image, what
evaluation and export read; `__call__(x01, train)` on a full image creates every parameter. The mask token is
a pretraining-only part and lives here, beside the heads, as SimMIM's does (models/mae.py), so the backbone's
parameters are a plain ViT's and export to timm unchanged.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxssl.models.network import normalize
from jaxssl.models.transformer import token_init
from jaxssl.models.vit import ViT


class IBOTNetwork(nn.Module):
    """x in [0, 1] -> {"features": (B, D) pooled output, "projection": (B, K) the [CLS] head's logits,
    "patch_projection": (B, L, K') the patch head's logits of each patch token (when `patches`)}.

    `mask` (B, L), 1 = masked, replaces those patch embeddings by the learned `mask_token` before the
    positions are added, as SimMIM (Xie et al. 2022, section 3.1) and iBOT (section 3) do. `patch_projector`
    None shares the [CLS] head with the patch tokens (iBOT's shared head); "features" is the ViT's pooled
    output (cls or mean pooling) of the same, possibly masked, forward.
    """

    backbone: ViT
    projector: nn.Module
    patch_projector: nn.Module | None
    image_mean: tuple[float, ...]
    image_std: tuple[float, ...]

    def setup(self):
        self.mask_token = self.param("mask_token", token_init, (1, 1, self.backbone.dim), jnp.float32)

    def features(self, x01, train: bool):
        """The ViT's pooled output on all patches of images in [0, 1]; what the probes evaluate."""
        return self.backbone(normalize(x01, self.image_mean, self.image_std), train=train)

    def feature_maps(self, x01, train: bool):
        """The ViT's per-block patch-token maps of images in [0, 1] (the per-layer probes)."""
        return self.backbone.feature_maps(normalize(x01, self.image_mean, self.image_std), train=train)

    def encode_masked(self, x01, train: bool, mask: jax.Array | None):
        """(B, 1 + L, dim): the ViT's encoded tokens, cls first, with the patches of `mask` replaced by the
        mask token before the positions are added."""
        x = normalize(x01, self.image_mean, self.image_std)
        tokens = self.backbone.patch_tokens(x)
        if mask is not None:
            tokens = jnp.where(mask[:, :, None] > 0, self.mask_token.astype(tokens.dtype), tokens)
        patch = self.backbone.patch_size
        tokens = tokens + self.backbone.position((x.shape[1] // patch, x.shape[2] // patch))
        return self.backbone.encode(tokens, train)

    def __call__(self, x01, train: bool, mask: jax.Array | None = None, patches: bool = True):
        encoded = self.encode_masked(x01, train, mask)
        cls = encoded[:, 0].astype(jnp.float32)
        pooled = cls if self.backbone.pool == "cls" else jnp.mean(encoded[:, 1:].astype(jnp.float32), axis=1)
        outputs = {"features": pooled, "projection": self.projector(cls, train=train)}
        if patches:
            patch_head = self.projector if self.patch_projector is None else self.patch_projector
            outputs["patch_projection"] = patch_head(encoded[:, 1:], train=train)
        return outputs
