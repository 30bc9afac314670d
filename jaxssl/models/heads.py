"""Heads: MLP projectors and predictors, SwAV's prototypes and DINO's projection head."""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxssl.models import layers

exact_gelu = functools.partial(nn.gelu, approximate=False)


def hidden_stack(x, train: bool, hidden_dims, use_bn: bool, activation, dtype: Any, bn_momentum: float = 0.9):
    """Dense -> [BN] -> `activation` per width of `hidden_dims`, made as layers `hidden{i}` (and
    `hidden{i}_bn`) of the module whose compact method calls it: the hidden part MLP and DINOHead share."""
    for layer, hidden_dim in enumerate(hidden_dims):
        x = nn.Dense(hidden_dim, dtype=dtype, param_dtype=jnp.float32, name=f"hidden{layer}")(x)
        if use_bn:
            x = layers.batch_norm(train, bn_momentum, dtype, f"hidden{layer}_bn")(x)
        x = activation(x)
    return x


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

    @nn.compact
    def __call__(self, x, train: bool, hidden_layers: int | None = None):
        """The projection; with `hidden_layers`, the float32 output of the first `hidden_layers` hidden layers
        alone (after their ReLU), the layers keeping their names: where SimCLR v2 fine-tunes from (Chen et al.
        2020b, section 2, the first layer of a 3-layer head)."""
        x = jnp.asarray(x, self.dtype)
        hidden_dims = self.hidden_dims if hidden_layers is None else self.hidden_dims[:hidden_layers]
        x = hidden_stack(x, train, hidden_dims, self.use_bn, nn.relu, self.dtype, self.bn_momentum)
        if hidden_layers is not None:
            return x.astype(jnp.float32)
        x = nn.Dense(
            self.out_dim, use_bias=not self.last_bn, dtype=self.dtype, param_dtype=jnp.float32, name="out"
        )(x)
        if self.last_bn:
            x = nn.BatchNorm(
                use_running_average=not train,
                momentum=self.bn_momentum,
                epsilon=1e-5,
                use_scale=False,
                use_bias=False,
                dtype=self.dtype,
                param_dtype=jnp.float32,
                name="out_bn",
            )(x)
        return x.astype(jnp.float32)


def projector_and_predictor(projector_hidden_dims, projection_dim: int, predictor_hidden_dims, dtype: Any):
    """(projector, predictor) of the methods that predict one view's projection from the other's (MoCo v3,
    NNCLR, SimSiam): a projector whose output is batch-normalised without affine (`last_bn`), then a
    predictor back to `projection_dim` with a plain linear output."""
    projector = MLP(
        hidden_dims=tuple(projector_hidden_dims), out_dim=projection_dim, last_bn=True, dtype=dtype
    )
    predictor = MLP(hidden_dims=tuple(predictor_hidden_dims), out_dim=projection_dim, dtype=dtype)
    return projector, predictor


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
        x = hidden_stack(
            jnp.asarray(x, self.dtype), train, self.hidden_dims, self.use_bn, exact_gelu, self.dtype
        )
        x = nn.Dense(self.bottleneck_dim, dtype=self.dtype, param_dtype=jnp.float32, name="bottleneck")(x)
        x = _normalize(x.astype(jnp.float32))
        direction = self.param(
            "last_layer", nn.initializers.truncated_normal(0.02), (x.shape[-1], self.out_dim)
        )
        return x @ _normalize(direction, axis=0)
