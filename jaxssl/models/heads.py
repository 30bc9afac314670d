"""MLP heads: projectors and predictors of SimCLR, BYOL, SimSiam, Barlow Twins, VICReg."""

from typing import Any

import flax.linen as nn
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
