"""Heads: MLP projectors and predictors, SwAV's prototypes and DINO's projection head."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


class MLP(nn.Module):
    """Dense -> BN -> ReLU per hidden layer, then Dense(out_dim); returns float32 (B, out_dim).

    SimCLR's projector is `MLP((2048,), 128)` (Chen et al. 2020); BYOL's projector and
    predictor are `MLP((4096,), 256)` (Grill et al. 2020). With `last_bn` the output layer has
    no bias and is followed by a BatchNorm without learned scale or shift, so each output
    dimension has zero mean and unit variance over the batch (SimCLR v2's projector, Barlow
    Twins' projector).
    """

    hidden_dims: tuple[int, ...]
    out_dim: int
    use_bn: bool = True
    last_bn: bool = False
    dtype: Any = jnp.float32
    bn_momentum: float = 0.9

    def _batch_norm(self, train: bool, name: str, learned_affine: bool = True) -> nn.BatchNorm:
        return nn.BatchNorm(
            use_running_average=not train,
            momentum=self.bn_momentum,
            epsilon=1e-5,
            use_scale=learned_affine,
            use_bias=learned_affine,
            dtype=self.dtype,
            param_dtype=jnp.float32,
            name=name,
        )

    @nn.compact
    def __call__(self, x, train: bool):
        x = jnp.asarray(x, self.dtype)
        for layer, hidden_dim in enumerate(self.hidden_dims):
            x = nn.Dense(hidden_dim, dtype=self.dtype, param_dtype=jnp.float32, name=f"hidden{layer}")(x)
            if self.use_bn:
                x = self._batch_norm(train, f"hidden{layer}_bn")(x)
            x = nn.relu(x)
        x = nn.Dense(
            self.out_dim, use_bias=not self.last_bn, dtype=self.dtype, param_dtype=jnp.float32, name="out"
        )(x)
        if self.last_bn:
            x = self._batch_norm(train, "out_bn", learned_affine=False)(x)
        return x.astype(jnp.float32)


def _unit_columns(key, shape, dtype=jnp.float32):
    """Normal(0, 1) entries, each column (one output unit's weight vector) scaled to unit L2 norm."""
    kernel = jax.random.normal(key, shape, dtype)
    return kernel / jnp.linalg.norm(kernel, axis=0, keepdims=True)


def _normalize(x, axis=-1):
    return x / jnp.maximum(jnp.linalg.norm(x, axis=axis, keepdims=True), 1e-12)


class Prototypes(nn.Module):
    """SwAV's prototypes (Caron et al. 2020, section 3.1): scores z/||z|| . c_k of K learned vectors.

    The kernel (D, K) is stored with unit columns; SwAV re-normalises it after every update
    (`jaxssl.methods.swav`), so the scores are cosine similarities. Returns float32 (B, K).
    """

    num_prototypes: int

    @nn.compact
    def __call__(self, z, train: bool):
        del train
        kernel = self.param("kernel", _unit_columns, (z.shape[-1], self.num_prototypes))
        return _normalize(z.astype(jnp.float32)) @ kernel


class DINOHead(nn.Module):
    """DINO's projection head (Caron et al. 2021, section 3.1 and appendix): an MLP with GELU (Dense ->
    [BN] -> GELU per hidden layer) to a `bottleneck_dim` embedding, L2 normalisation, then a weight-normalised
    linear layer without bias to `out_dim` logits whose weight vectors have norm 1 (norm_last_layer: each
    logit is a cosine similarity). Returns float32 (B, out_dim)."""

    hidden_dims: tuple[int, ...]
    bottleneck_dim: int
    out_dim: int
    use_bn: bool = False
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        x = jnp.asarray(x, self.dtype)
        for layer, hidden_dim in enumerate(self.hidden_dims):
            x = nn.Dense(hidden_dim, dtype=self.dtype, param_dtype=jnp.float32, name=f"hidden{layer}")(x)
            if self.use_bn:
                x = nn.BatchNorm(
                    use_running_average=not train,
                    momentum=0.9,
                    epsilon=1e-5,
                    dtype=self.dtype,
                    name=f"hidden{layer}_bn",
                )(x)
            x = nn.gelu(x, approximate=False)
        x = nn.Dense(self.bottleneck_dim, dtype=self.dtype, param_dtype=jnp.float32, name="bottleneck")(x)
        x = _normalize(x.astype(jnp.float32))
        direction = self.param(
            "last_layer", nn.initializers.truncated_normal(0.02), (x.shape[-1], self.out_dim)
        )
        return x @ _normalize(direction, axis=0)
