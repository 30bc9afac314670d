"""Vision Transformer backbones (Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words").

An image of H x W pixels is cut into L = (H / p) (W / p) non-overlapping p x p patches, each linearly
projected to D channels (a Conv with kernel = stride = p, eq. 1 of the paper); a learned cls token is
prepended, position embeddings are added, and `depth` pre-norm Transformer blocks follow (eq. 2-3):

    z' = z + DropPath(MSA(LN(z))),      z = z' + DropPath(MLP(LN(z'))),

then a final LayerNorm (eq. 4). The pooled output is the cls token, or the mean of the patch tokens.

Parameter names follow timm's `VisionTransformer` (`patch_embed/proj`, `cls_token`, `pos_embed`,
`blocks_{i}/{norm1, attn/qkv, attn/proj, norm2, mlp/fc1, mlp/fc2}`, `norm`), with the fused qkv, so an
export is a renaming plus transposes. There is no classifier head.

Initialisation as MAE and MoCo v3 (jaxssl/models/transformer.py). Written for one global array, without axis
names. Stochastic depth acts only when `train` is True and the caller supplied a "dropout" PRNG stream, so
evaluation, EMA-target forwards and `init` with one key are deterministic.
"""

import math
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxssl.models import layers
from jaxssl.models.transformer import Block, PatchEmbed, layer_norm, pos_init, sincos_2d, token_init

POOLS = ("cls", "mean")
POS_EMBEDS = ("learned", "sincos")


class ViT(nn.Module):
    """ViT trunk: patch embedding, cls token, positions, `depth` blocks, final LayerNorm.

    `image_size` is the (square) grid the position table is stored for; other input sizes get the stored
    table resized (`position`). `__call__` returns float32 (B, dim); parameters are float32 whatever
    `dtype` (the computation dtype) is.
    """

    image_size: int
    patch_size: int
    dim: int
    depth: int
    heads: int
    mlp_ratio: float = 4.0
    pool: str = "cls"
    drop_path: float = 0.0
    pos_embed: str = "learned"
    dtype: Any = jnp.float32

    def __post_init__(self):
        for field in ("image_size", "patch_size", "dim", "depth", "heads"):
            value = getattr(self, field)
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{field} must be a positive int, got {value!r}")
        if self.pool not in POOLS:
            raise ValueError(f"unknown pool {self.pool!r}; choose from {list(POOLS)}")
        if self.pos_embed not in POS_EMBEDS:
            raise ValueError(f"unknown pos_embed {self.pos_embed!r}; choose from {list(POS_EMBEDS)}")
        if self.image_size % self.patch_size:
            raise ValueError(f"patch_size {self.patch_size} does not divide image_size {self.image_size}")
        if self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not divisible by heads {self.heads}")
        if self.pos_embed == "sincos" and self.dim % 4:
            raise ValueError(f"2-D sin-cos positions need dim divisible by 4, got {self.dim}")
        if not 0.0 <= self.drop_path < 1.0:
            raise ValueError(f"drop_path must be in [0, 1), got {self.drop_path!r}")
        if self.mlp_ratio <= 0 or int(self.dim * self.mlp_ratio) < 1:
            raise ValueError(f"mlp_ratio must give a positive hidden width, got {self.mlp_ratio!r}")
        super().__post_init__()

    @property
    def num_features(self) -> int:
        """Channels of the pooled output."""
        return self.dim

    @property
    def grid(self) -> int:
        """Side of the stored patch grid, image_size / patch_size."""
        return self.image_size // self.patch_size

    def setup(self):
        self.patch_embed = PatchEmbed(self.patch_size, self.dim, self.dtype)
        self.cls_token = self.param("cls_token", token_init, (1, 1, self.dim), jnp.float32)
        length = 1 + self.grid**2
        if self.pos_embed == "learned":
            self.pos_table = self.param("pos_embed", pos_init, (1, length, self.dim), jnp.float32)
        else:  # a constant: the cls position is zeros, as in MAE
            table = np.zeros((1, length, self.dim), np.float32)
            table[0, 1:] = sincos_2d(self.dim, (self.grid, self.grid))
            self.pos_table = jnp.asarray(table)
        self.blocks = [
            Block(self.dim, self.heads, self.mlp_ratio, rate, self.dtype)
            for rate in layers.drop_path_rates(self.drop_path, self.depth)
        ]
        self.norm = layer_norm(self.dtype)

    def patch_tokens(self, x):
        """(B, H, W, C) images -> (B, L, dim) patch projections in row-major patch order, no position."""
        if x.shape[1] % self.patch_size or x.shape[2] % self.patch_size:
            raise ValueError(f"patch_size {self.patch_size} does not divide the input size {x.shape[1:3]}")
        tokens = self.patch_embed(jnp.asarray(x, self.dtype))
        return tokens.reshape(tokens.shape[0], -1, self.dim)

    def position(self, num_patches: int | tuple[int, int]):
        """(1, L, dim) positions of the patch tokens for a square grid of `num_patches` (or an (h, w) grid).

        The stored grid itself when the sizes match; otherwise the stored grid resized bicubically
        (half-pixel centres, no antialiasing), as DINO does for its small crops. Shapes are static, so
        each input size is one trace.
        """
        if isinstance(num_patches, int):
            side = math.isqrt(num_patches)
            if side * side != num_patches:
                raise ValueError(f"{num_patches} patches are not a square grid; pass (h, w)")
            num_patches = (side, side)
        patches = self.pos_table[:, 1:]
        if tuple(num_patches) != (self.grid, self.grid):
            stored = patches.reshape(1, self.grid, self.grid, self.dim)
            resized = jax.image.resize(stored, (1, *num_patches, self.dim), "bicubic", antialias=False)
            patches = resized.reshape(1, -1, self.dim)
        return patches.astype(self.dtype)

    def embed(self, x):
        """(B, H, W, C) -> (B, L, dim): patch projections plus their positions."""
        grid = (x.shape[1] // self.patch_size, x.shape[2] // self.patch_size)
        return self.patch_tokens(x) + self.position(grid)

    def _prepend_cls(self, tokens):
        cls = (self.cls_token + self.pos_table[:, :1]).astype(tokens.dtype)
        return jnp.concatenate([jnp.broadcast_to(cls, (tokens.shape[0], 1, self.dim)), tokens], axis=1)

    def encode(self, tokens, train: bool):
        """(B, L', dim) embedded tokens (any subset) -> (B, 1 + L', dim): cls prepended, blocks, final norm."""
        x = self._prepend_cls(jnp.asarray(tokens, self.dtype))
        for block in self.blocks:
            x = block(x, train)
        return self.norm(x)

    def __call__(self, x, train: bool):
        encoded = self.encode(self.embed(x), train)
        pooled = encoded[:, 0] if self.pool == "cls" else jnp.mean(encoded[:, 1:].astype(jnp.float32), axis=1)
        return pooled.astype(jnp.float32)

    def feature_maps(self, x, train: bool) -> dict[str, jax.Array]:
        """{"block{i}": (B, h, w, dim)}: the patch tokens after each block on the patch grid (cls dropped);
        the last map is taken after the final norm."""
        h, w = x.shape[1] // self.patch_size, x.shape[2] // self.patch_size
        tokens = self._prepend_cls(self.embed(x))
        maps = {}
        for index, block in enumerate(self.blocks):
            tokens = block(tokens, train)
            out = self.norm(tokens) if index == self.depth - 1 else tokens
            maps[f"block{index}"] = out[:, 1:].reshape(x.shape[0], h, w, self.dim)
        return maps


class Size(NamedTuple):
    """A named ViT size: its width, depth and heads, and the image and patch sizes it is built for unless
    told otherwise."""

    dim: int
    depth: int
    heads: int
    image_size: int
    patch_size: int


SIZES = {
    "micro": Size(32, 2, 2, 16, 4),  # for tests on 16 px images, compiles in seconds
    "tiny": Size(192, 12, 3, 224, 16),  # ViT-Ti (DeiT, Touvron et al. 2021)
    "small": Size(384, 12, 6, 224, 16),  # ViT-S (DeiT)
    "base": Size(768, 12, 12, 224, 16),  # ViT-B (Dosovitskiy et al. 2021, table 1)
}


def vit(
    size: str,
    image_size: int | None = None,
    patch_size: int | None = None,
    pool: str = "cls",
    drop_path: float = 0.0,
    pos_embed: str = "learned",
    dtype: Any = jnp.float32,
) -> ViT:
    """The ViT of a named size (SIZES) with an MLP ratio of 4; image_size and patch_size default to the
    size's. The registered backbones vit_micro, vit_tiny, ... are this function with their size bound."""
    if size not in SIZES:
        raise ValueError(f"unknown ViT size {size!r}; choose from {list(SIZES)}")
    shape = SIZES[size]
    return ViT(
        shape.image_size if image_size is None else image_size,
        shape.patch_size if patch_size is None else patch_size,
        shape.dim,
        shape.depth,
        shape.heads,
        4.0,
        pool,
        drop_path,
        pos_embed,
        dtype,
    )
