"""Wide ResNet (Zagoruyko & Komodakis 2016, "Wide Residual Networks"), WRN-d-k as the
semi-supervised papers use it (MixMatch, Berthelot et al. 2019; FixMatch, Sohn et al. 2020).

Layout (Zagoruyko & Komodakis Table 1, with FixMatch's `libml/models.py` choices):
- a 3x3 convolution to 16 channels ("stem");
- three stages of n = (d - 4) / 6 pre-activation blocks (He et al. 2016b, "Identity Mappings in
  Deep Residual Networks") of 16k, 32k and 64k channels, the first block of stages 2 and 3 with
  stride 2. A block is BN, leaky ReLU, 3x3 conv (the stride), BN, leaky ReLU, 3x3 conv, added to
  the shortcut: identity, or a strided 1x1 convolution when the shape changes. In the first
  block of all (`activate_before_residual`) the shortcut also takes the activated input;
  elsewhere it takes the block's input as it is;
- a final BN and leaky ReLU, then the global average pool (the classifier is left out).
Leaky ReLU slope 0.1 and BN momentum 0.999 (TF/flax convention: PyTorch's 0.001) as FixMatch's
code; convolutions bias-free (as the PyTorch ports, e.g. kekmodel/FixMatch-pytorch; the TF code
keeps tf.layers' default biases), He-normal with fan-out; BN epsilon 1e-3 (TF's default, as the
FixMatch code). There is no dropout (FixMatch and MixMatch train with none).

Parameters without a classifier: WRN-28-2 1,466,320 (1,467,610 with a 10-class one, the "1.5M" of
MixMatch and FixMatch and the 1.47M of the PyTorch ports), WRN-28-8 23,349,712 (23,401,012 with
FixMatch's 100-class CIFAR-100 classifier, its "23.4M"; 23,354,842 with 10 classes).

`feature_maps` returns {"stem": the 16-channel convolution, "stage1", "stage2": the residual
stream after each stage, "stage3": after the last stage and the final BN + leaky ReLU}; at 32 px
these are 32x32x16, 32x32x16k, 16x16x32k, 8x8x64k.

Names, this module -> the PyTorch ports (no torchvision WRN): stem_conv -> conv1;
stage{s}_block{i}/{bn1, conv1, bn2, conv2, shortcut_conv} -> block{s}.layer.{i}.{bn1, conv1,
bn2, conv2, convShortcut}; final_bn -> bn1. Flax kernels are HWIO (torch OIHW: transpose
(3, 2, 0, 1)); BN momentum 0.999 is torch's 0.001.
"""

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxssl.models import layers

# He-normal with fan-out: FixMatch's N(0, 1 / sqrt(0.5 k^2 f)) for a k x k conv with f filters.
conv_kernel_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def conv(features: int, kernel: int, stride: int, dtype: Any, name: str) -> nn.Conv:
    """FixMatch's convolution: bias-free, He-normal fan-out init (not truncated)."""
    return layers.conv(features, kernel, stride, dtype, name, kernel_init=conv_kernel_init)


def batch_norm(train: bool, momentum: float, dtype: Any, name: str) -> nn.BatchNorm:
    """FixMatch's BatchNorm: epsilon 1e-3, as TensorFlow's default."""
    return layers.batch_norm(train, momentum, dtype, name, epsilon=1e-3)


class PreActBlock(nn.Module):
    """BN, act, 3x3 conv, BN, act, 3x3 conv, plus the identity or a 1x1 projection shortcut."""

    filters: int
    stride: int = 1
    activate_before_residual: bool = False
    dtype: Any = jnp.float32
    bn_momentum: float = 0.999
    negative_slope: float = 0.1
    drop_path: float = 0.0

    @nn.compact
    def __call__(self, x, train: bool):
        act = functools.partial(nn.leaky_relu, negative_slope=self.negative_slope)
        y = act(batch_norm(train, self.bn_momentum, self.dtype, "bn1")(x))
        shortcut = y if self.activate_before_residual else x
        y = conv(self.filters, 3, self.stride, self.dtype, "conv1")(y)
        y = act(batch_norm(train, self.bn_momentum, self.dtype, "bn2")(y))
        y = conv(self.filters, 3, 1, self.dtype, "conv2")(y)
        if self.stride != 1 or x.shape[-1] != self.filters:
            shortcut = conv(self.filters, 1, self.stride, self.dtype, "shortcut_conv")(shortcut)
        return shortcut + layers.drop_branch(self, y, self.drop_path, train)


class WideResNet(nn.Module):
    """WRN-depth-widen_factor trunk; returns float32 (B, 64 * widen_factor) after the global pool.

    `drop_path`: the stochastic depth of the last block, the others' rising linearly to it (Huang et al. 2016;
    the noise of Noisy Student's students), in training with a "dropout" rng only.
    """

    depth: int = 28
    widen_factor: int = 2
    base_width: int = 16
    dtype: Any = jnp.float32
    bn_momentum: float = 0.999
    negative_slope: float = 0.1
    drop_path: float = 0.0

    def __post_init__(self):
        if self.depth < 10 or (self.depth - 4) % 6:
            raise ValueError(f"depth must be 6n + 4 with n >= 1 (10, 16, 22, 28, ...), got {self.depth!r}")
        if self.widen_factor < 1 or self.base_width < 1:
            raise ValueError(
                f"widen_factor and base_width must be positive ints, got {self.widen_factor!r}, {self.base_width!r}"
            )
        if not 0.0 <= self.drop_path < 1.0:
            raise ValueError(f"drop_path must be in [0, 1), got {self.drop_path!r}")
        super().__post_init__()

    @property
    def num_features(self) -> int:
        """Channels of the last stage: 4 * base_width * widen_factor (64k)."""
        return 4 * self.base_width * self.widen_factor

    @nn.compact
    def feature_maps(self, x, train: bool) -> dict[str, jax.Array]:
        block = functools.partial(
            PreActBlock, dtype=self.dtype, bn_momentum=self.bn_momentum, negative_slope=self.negative_slope
        )
        x = conv(self.base_width, 3, 1, self.dtype, "stem_conv")(jnp.asarray(x, self.dtype))
        maps = {"stem": x}
        blocks_per_stage = (self.depth - 4) // 6
        rates = iter(layers.drop_path_rates(self.drop_path, 3 * blocks_per_stage))
        for stage in range(1, 4):
            filters = self.base_width * self.widen_factor * 2 ** (stage - 1)
            for index in range(blocks_per_stage):
                stride = 2 if stage > 1 and index == 0 else 1
                first = stage == 1 and index == 0
                x = block(filters, stride, first, drop_path=next(rates), name=f"stage{stage}_block{index}")(
                    x, train
                )
            maps[f"stage{stage}"] = x
        x = batch_norm(train, self.bn_momentum, self.dtype, "final_bn")(x)
        maps["stage3"] = nn.leaky_relu(x, negative_slope=self.negative_slope)
        return maps

    def __call__(self, x, train: bool):
        last = self.feature_maps(x, train)["stage3"]
        return jnp.mean(last.astype(jnp.float32), axis=(1, 2))


def wide_resnet28_2(dtype: Any = jnp.float32, drop_path: float = 0.0) -> WideResNet:
    """WRN-28-2, the CIFAR-10 / SVHN network of MixMatch and FixMatch (1.47M parameters, 128 features)."""
    return WideResNet(depth=28, widen_factor=2, dtype=dtype, drop_path=drop_path)


def wide_resnet28_8(dtype: Any = jnp.float32, drop_path: float = 0.0) -> WideResNet:
    """WRN-28-8, FixMatch's CIFAR-100 network (23.4M parameters, 512 features)."""
    return WideResNet(depth=28, widen_factor=8, dtype=dtype, drop_path=drop_path)


def wide_resnet_micro(dtype: Any = jnp.float32, drop_path: float = 0.0) -> WideResNet:
    """WRN-10-1 with 8 base channels (one block per stage, 8-16-32 channels): for tests."""
    return WideResNet(depth=10, widen_factor=1, base_width=8, dtype=dtype, drop_path=drop_path)
