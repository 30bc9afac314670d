"""The pre-norm Transformer's parts (Vaswani et al. 2017; Dosovitskiy et al. 2021, eq. 1-3), shared by the ViT
(vit.py), MAE's decoder (mae.py) and I-JEPA's predictor (jepa.py): the patch projection, multi-head
self-attention, the MLP, the block with stochastic depth, sin-cos position tables, and their initialisers.

Initialisation follows MAE (He et al. 2022) and MoCo v3 (Chen et al. 2021), the self-supervised
recipes this library trains: Xavier-uniform Dense kernels with zero biases, the patch projection
Xavier-uniform as if it were the Dense of a flattened patch, the cls token and a learned position
table normal / truncated normal with std 0.02, LayerNorm (1, 0). (timm's default is a truncated normal
with std 0.02 for the Dense kernels; MAE and MoCo v3 report their results with Xavier uniform, which is
also what big_vision's ViT uses.)
"""

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxssl.models import layers

dense_init = nn.initializers.xavier_uniform()
# Xavier over the (p * p * C, D) view of the (p, p, C, D) kernel, as for the Dense it is equivalent to.
patch_kernel_init = nn.initializers.variance_scaling(
    1.0, "fan_avg", "uniform", in_axis=(0, 1, 2), out_axis=-1
)
token_init = nn.initializers.normal(0.02)
pos_init = nn.initializers.truncated_normal(0.02)


def sincos_1d(dim: int, positions: np.ndarray) -> np.ndarray:
    """Vaswani et al. 2017, section 3.5, on one axis: [sin(pos w_k), cos(pos w_k)], w_k = 10000^(-k / (dim/2))."""
    omega = 1.0 / 10000.0 ** (np.arange(dim // 2, dtype=np.float64) / (dim // 2))
    angles = positions.reshape(-1, 1).astype(np.float64) * omega[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1)


def sincos_2d(dim: int, grid: tuple[int, int]) -> np.ndarray:
    """Fixed 2-D sin-cos position table (L, dim) for an (h, w) grid in row-major order.

    The first dim / 2 channels encode the column, the last dim / 2 the row, each with `sincos_1d`: the
    2-D form MAE and MoCo v3 use. Requires dim % 4 == 0.
    """
    rows, cols = np.meshgrid(np.arange(grid[0]), np.arange(grid[1]), indexing="ij")
    table = np.concatenate([sincos_1d(dim // 2, cols), sincos_1d(dim // 2, rows)], axis=1)
    return table.astype(np.float32)


def layer_norm(dtype: Any, name: str | None = None) -> nn.LayerNorm:
    return nn.LayerNorm(epsilon=1e-6, dtype=dtype, param_dtype=jnp.float32, name=name)


def dense(features: int, dtype: Any, name: str | None = None) -> nn.Dense:
    """A Dense layer of the Transformer's parts: float32 weights, Xavier-uniform kernel, zero bias."""
    return nn.Dense(features, dtype=dtype, param_dtype=jnp.float32, kernel_init=dense_init, name=name)


class PatchEmbed(nn.Module):
    """Eq. 1's linear projection of flattened patches, as a Conv with kernel = stride = patch."""

    patch_size: int
    dim: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        return nn.Conv(
            self.dim,
            (self.patch_size, self.patch_size),
            strides=(self.patch_size, self.patch_size),
            padding="VALID",
            dtype=self.dtype,
            param_dtype=jnp.float32,
            kernel_init=patch_kernel_init,
            name="proj",
        )(x)


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection (Vaswani et al. 2017, eq. 1):
    softmax(q k^T / sqrt(d_head)) v per head, the logits and softmax in float32."""

    dim: int
    heads: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        batch, length, _ = x.shape
        head_dim = self.dim // self.heads
        qkv = dense(3 * self.dim, self.dtype, "qkv")(x).reshape(batch, length, 3, self.heads, head_dim)
        q, k, v = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        logits = jnp.einsum("bqhd,bkhd->bhqk", q, k, preferred_element_type=jnp.float32) / math.sqrt(head_dim)
        weights = jax.nn.softmax(logits, axis=-1).astype(self.dtype)
        out = jnp.einsum("bhqk,bkhd->bqhd", weights, v).reshape(batch, length, self.dim)
        return dense(self.dim, self.dtype, "proj")(out)


class Mlp(nn.Module):
    """Two Dense layers with an exact (erf) GELU between them, as in the paper and timm."""

    hidden: int
    dim: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        x = nn.gelu(dense(self.hidden, self.dtype, "fc1")(x), approximate=False)
        return dense(self.dim, self.dtype, "fc2")(x)


class Block(nn.Module):
    """Pre-norm Transformer block (eq. 2-3) with per-example stochastic depth on both residual branches."""

    dim: int
    heads: int
    mlp_ratio: float = 4.0
    drop_path: float = 0.0
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        attn = Attention(self.dim, self.heads, self.dtype, name="attn")
        mlp = Mlp(int(self.dim * self.mlp_ratio), self.dim, self.dtype, name="mlp")
        x = x + layers.drop_branch(self, attn(layer_norm(self.dtype, "norm1")(x)), self.drop_path, train)
        return x + layers.drop_branch(self, mlp(layer_norm(self.dtype, "norm2")(x)), self.drop_path, train)
