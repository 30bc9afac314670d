"""Layer builders the convolutional backbones share: torchvision-padded convolutions and BatchNorm, with
float32 parameters whatever the compute dtype."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

# He-normal with fan-out (He et al. 2015), truncated, as torchvision initialises its convolutions.
he_fan_out = nn.initializers.variance_scaling(2.0, "fan_out", "truncated_normal")


def conv(
    features: int,
    kernel: int,
    stride: int,
    dtype: Any,
    name: str,
    *,
    pad: int | None = None,
    groups: int = 1,
    bias: bool = False,
    kernel_init=he_fan_out,
) -> nn.Conv:
    """A square convolution with `pad` zeros on each side (kernel // 2 by default, torchvision's padding);
    groups=features makes it depthwise."""
    pad = kernel // 2 if pad is None else pad
    return nn.Conv(
        features,
        (kernel, kernel),
        strides=(stride, stride),
        padding=((pad, pad), (pad, pad)),
        feature_group_count=groups,
        use_bias=bias,
        dtype=dtype,
        param_dtype=jnp.float32,
        kernel_init=kernel_init,
        name=name,
    )


def batch_norm(
    train: bool, momentum: float, dtype: Any, name: str, *, epsilon: float = 1e-5, zero_scale: bool = False
) -> nn.BatchNorm:
    """BatchNorm in training mode when `train` (batch statistics) else with its running averages;
    `zero_scale` starts a residual branch at zero (Goyal et al. 2017, section 5.1)."""
    return nn.BatchNorm(
        use_running_average=not train,
        momentum=momentum,
        epsilon=epsilon,
        dtype=dtype,
        param_dtype=jnp.float32,
        scale_init=nn.initializers.zeros if zero_scale else nn.initializers.ones,
        name=name,
    )


NORMS = ("batch", "layer")


def norm_layer(kind: str, train: bool, momentum: float, dtype: Any, name: str, *, zero_scale: bool = False):
    """The normalisation of a ResNet: BatchNorm (`batch_norm`), or LayerNorm over each position's channels
    ("layer": no statistics shared between examples, as CPC v2 needs when the examples are patches of one
    image, Hénaff et al. 2020, section 4.1), named with "ln" where BatchNorm's name has "bn"."""
    if kind == "batch":
        return batch_norm(train, momentum, dtype, name, zero_scale=zero_scale)
    return nn.LayerNorm(
        epsilon=1e-5,
        dtype=dtype,
        param_dtype=jnp.float32,
        scale_init=nn.initializers.zeros if zero_scale else nn.initializers.ones,
        name=name.replace("bn", "ln"),
    )


def drop_branch(module: nn.Module, branch, rate: float, train: bool):
    """Stochastic depth (Huang et al. 2016): zero a whole residual branch per example with probability
    `rate` and scale the survivors by 1 / (1 - rate). Identity unless `module` trains with a "dropout" rng."""
    if not train or rate == 0.0 or not module.has_rng("dropout"):
        return branch
    keep = 1.0 - rate
    shape = (branch.shape[0],) + (1,) * (branch.ndim - 1)
    kept = jax.random.bernoulli(module.make_rng("dropout"), keep, shape)
    return jnp.where(kept, branch / jnp.asarray(keep, branch.dtype), jnp.zeros_like(branch))


def drop_path_rates(rate: float, depth: int) -> list[float]:
    """Stochastic-depth rate of each of `depth` blocks, rising linearly to `rate` at the last (Huang et al.
    2016's linear decay rule, as DeiT and timm apply it)."""
    return [float(index * (rate / max(depth - 1, 1))) for index in range(depth)]
