"""MobileNet v1 (Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks for Mobile
Vision Applications") and v2 (Sandler et al. 2018, "MobileNetV2: Inverted Residuals and Linear
Bottlenecks"), with the width multiplier alpha of both papers.

v1 (Table 1): a 3x3/2 convolution with 32 filters, then 13 depthwise-separable layers (3x3
depthwise + BN + ReLU, 1x1 pointwise + BN + ReLU) to 1024 channels, global average pool; the
1024 -> 1000 classifier is left out. Channels are int(c * alpha), as Keras' `MobileNet` (exact for
the paper's alphas 1, 0.75, 0.5 and 0.25). Parameters at alpha = 1: Keras' trainable 4,231,976
(BN scale and offset included) minus its 1,025,000-parameter classifier = 3,206,976.
Names, this module -> Keras: stem_conv/stem_bn -> conv1/conv1_bn; block{i}/{dw,pw}_{conv,bn} ->
conv_{dw,pw}_{i+1}[_bn]. torchvision has no v1.

v2 (Table 2, torchvision `mobilenet_v2`): a 3x3/2 convolution with 32 filters, 17 inverted
residual blocks from the (t, c, n, s) table below (1x1 expansion by t + BN + ReLU6, 3x3 depthwise
+ BN + ReLU6, linear 1x1 projection + BN, identity shortcut when stride 1 and the channels
match), a 1x1 convolution to 1280 + BN + ReLU6, global average pool; torchvision's dropout and
1280 -> 1000 classifier are left out. Channels are make_divisible(c * alpha, 8) as in torchvision
(the last convolution: make_divisible(1280 * max(1, alpha), 8)); expansion widths
round(c_in * t). Parameters at alpha = 1: torchvision's 3,504,872 minus 1,281,000 = 2,223,872.
Names, this module -> torchvision: stem_{conv,bn} -> features.0.{0,1}; block{i} -> features.{i+1}
with expand_{conv,bn} -> conv.0.{0,1}, dw_{conv,bn} -> conv.1.{0,1}, project_{conv,bn} ->
conv.{2,3} (without the expansion, t = 1: dw -> conv.0.{0,1}, project -> conv.{1,2});
head_{conv,bn} -> features.18.{0,1}.

Both: convolutions bias-free, He-normal with fan-out; BN epsilon 1e-5 and flax momentum 0.9
(torch's 0.1). stem="imagenet" is the papers' layout; stem="cifar" only sets the first
convolution's stride to 1 (32 px -> 32, 16, 8, 4, 2 at the five resolutions; 28 px -> 28, 14,
7, 4, 2). Padding is torchvision's (1 on each side for 3x3).

`feature_maps` returns one map per resolution, "stage1", "stage2", ...: the output of the last
layer before each stride-2 layer, and the last map (after v1's last pointwise layer or v2's
1280-channel convolution). At 224 px, v1: 112x112x64, 56x56x128, 28x28x256, 14x14x512, 7x7x1024;
v2: 112x112x16, 56x56x24, 28x28x32, 14x14x96, 7x7x1280.

Export: flax kernels are HWIO (torch OIHW: transpose (3, 2, 0, 1)); a depthwise kernel is
(3, 3, 1, C) (torch (C, 1, 3, 3)). BN scale/bias/mean/var are torch's weight/bias/
running_mean/running_var.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxssl.models import layers

STEMS = ("cifar", "imagenet")


# Howard et al. Table 1: (pointwise output channels, depthwise stride) of each separable layer.
V1_LAYERS = (
    ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)) + ((512, 1),) * 5 + ((1024, 2), (1024, 1))
)
# Sandler et al. Table 2: expansion t, output channels c, repeats n, stride of the first repeat s.
V2_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def make_divisible(value: float, divisor: int = 8) -> int:
    """The nearest multiple of `divisor` to `value`, at least `divisor` and never below 90 % of `value`
    (the channel rounding of MobileNet v2's reference code and torchvision)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def _validate(stem: str, width_multiplier: float) -> None:
    if stem not in STEMS:
        raise ValueError(f"unknown stem {stem!r}; choose from {list(STEMS)}")
    if not width_multiplier > 0:
        raise ValueError(f"width_multiplier must be positive, got {width_multiplier!r}")


class SeparableBlock(nn.Module):
    """Depthwise 3x3 (+ BN + ReLU), pointwise 1x1 (+ BN + ReLU): MobileNet v1's layer (Fig. 3)."""

    features: int
    stride: int = 1
    dtype: Any = jnp.float32
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, x, train: bool):
        channels = x.shape[-1]
        x = layers.conv(channels, 3, self.stride, self.dtype, "dw_conv", groups=channels)(x)
        x = nn.relu(layers.batch_norm(train, self.bn_momentum, self.dtype, "dw_bn")(x))
        x = layers.conv(self.features, 1, 1, self.dtype, "pw_conv")(x)
        return nn.relu(layers.batch_norm(train, self.bn_momentum, self.dtype, "pw_bn")(x))


class InvertedResidual(nn.Module):
    """Expand 1x1 by t (+ BN + ReLU6), depthwise 3x3 (+ BN + ReLU6), linear 1x1 projection (+ BN);
    the identity shortcut when the shape is kept (Sandler et al. Table 1 and Fig. 4)."""

    features: int
    stride: int = 1
    expansion: int = 6
    dtype: Any = jnp.float32
    bn_momentum: float = 0.9

    @nn.compact
    def __call__(self, x, train: bool):
        hidden = int(round(x.shape[-1] * self.expansion))
        y = x
        if self.expansion != 1:
            y = layers.conv(hidden, 1, 1, self.dtype, "expand_conv")(y)
            y = nn.relu6(layers.batch_norm(train, self.bn_momentum, self.dtype, "expand_bn")(y))
        y = layers.conv(hidden, 3, self.stride, self.dtype, "dw_conv", groups=hidden)(y)
        y = nn.relu6(layers.batch_norm(train, self.bn_momentum, self.dtype, "dw_bn")(y))
        y = layers.conv(self.features, 1, 1, self.dtype, "project_conv")(y)
        y = layers.batch_norm(train, self.bn_momentum, self.dtype, "project_bn")(y)
        return x + y if self.stride == 1 and x.shape[-1] == self.features else y


def _stem(module, x, train: bool, width: int, activation):
    """The first 3x3 convolution: stride 2 (imagenet) or 1 (cifar), BN, activation."""
    stride = 2 if module.stem == "imagenet" else 1
    x = layers.conv(width, 3, stride, module.dtype, "stem_conv")(jnp.asarray(x, module.dtype))
    return activation(layers.batch_norm(train, module.bn_momentum, module.dtype, "stem_bn")(x))


def _run_blocks(x, blocks, train: bool) -> dict[str, jax.Array]:
    """Applies `blocks` and names the map before each stride-2 block, and the last, stage1, stage2, ..."""
    maps = {}
    for block in blocks:
        if block.stride == 2:
            maps[f"stage{len(maps) + 1}"] = x
        x = block(x, train)
    maps[f"stage{len(maps) + 1}"] = x
    return maps


class MobileNetV1(nn.Module):
    """MobileNet v1 trunk, global average pool; returns float32 (B, num_features)."""

    width_multiplier: float = 1.0
    stem: str = "cifar"
    layers: tuple[tuple[int, int], ...] = V1_LAYERS
    stem_width: int = 32
    dtype: Any = jnp.float32
    bn_momentum: float = 0.9

    def __post_init__(self):
        _validate(self.stem, self.width_multiplier)
        if not self.layers or any(stride not in (1, 2) or c < 1 for c, stride in self.layers):
            raise ValueError(f"layers must be (channels >= 1, stride 1 or 2) pairs, got {self.layers!r}")
        super().__post_init__()

    def _width(self, channels: int) -> int:
        return max(1, int(channels * self.width_multiplier))

    @property
    def num_features(self) -> int:
        """Channels of the last pointwise layer: int(1024 * alpha) for the paper's layout."""
        return self._width(self.layers[-1][0])

    @nn.compact
    def feature_maps(self, x, train: bool) -> dict[str, jax.Array]:
        x = _stem(self, x, train, self._width(self.stem_width), nn.relu)
        blocks = [
            SeparableBlock(self._width(c), s, self.dtype, self.bn_momentum, name=f"block{i}")
            for i, (c, s) in enumerate(self.layers)
        ]
        return _run_blocks(x, blocks, train)

    def __call__(self, x, train: bool):
        maps = self.feature_maps(x, train)
        return jnp.mean(maps[f"stage{len(maps)}"].astype(jnp.float32), axis=(1, 2))


class MobileNetV2(nn.Module):
    """MobileNet v2 trunk up to the 1280-channel convolution, global average pool; float32 (B, num_features)."""

    width_multiplier: float = 1.0
    stem: str = "cifar"
    settings: tuple[tuple[int, int, int, int], ...] = V2_SETTINGS
    stem_width: int = 32
    last_width: int = 1280
    dtype: Any = jnp.float32
    bn_momentum: float = 0.9

    def __post_init__(self):
        _validate(self.stem, self.width_multiplier)
        if not self.settings or any(
            t < 1 or c < 1 or n < 1 or s not in (1, 2) for t, c, n, s in self.settings
        ):
            raise ValueError(
                f"settings must be (t >= 1, c >= 1, n >= 1, s in (1, 2)) rows, got {self.settings!r}"
            )
        super().__post_init__()

    @property
    def num_features(self) -> int:
        """Channels of the last convolution: make_divisible(1280 * max(1, alpha), 8)."""
        return make_divisible(self.last_width * max(1.0, self.width_multiplier))

    @nn.compact
    def feature_maps(self, x, train: bool) -> dict[str, jax.Array]:
        x = _stem(self, x, train, make_divisible(self.stem_width * self.width_multiplier), nn.relu6)
        blocks = []
        for t, c, n, s in self.settings:
            features = make_divisible(c * self.width_multiplier)
            for repeat in range(n):
                stride = s if repeat == 0 else 1
                name = f"block{len(blocks)}"
                blocks.append(InvertedResidual(features, stride, t, self.dtype, self.bn_momentum, name=name))
        maps = _run_blocks(x, blocks, train)
        last = f"stage{len(maps)}"
        x = layers.conv(self.num_features, 1, 1, self.dtype, "head_conv")(maps[last])
        maps[last] = nn.relu6(layers.batch_norm(train, self.bn_momentum, self.dtype, "head_bn")(x))
        return maps

    def __call__(self, x, train: bool):
        maps = self.feature_maps(x, train)
        return jnp.mean(maps[f"stage{len(maps)}"].astype(jnp.float32), axis=(1, 2))


def mobilenet_v1(width_multiplier: float = 1.0, stem: str = "cifar", dtype: Any = jnp.float32) -> MobileNetV1:
    """Howard et al.'s MobileNet (3.2M parameters without the classifier at alpha = 1)."""
    return MobileNetV1(width_multiplier=width_multiplier, stem=stem, dtype=dtype)


def mobilenet_v2(width_multiplier: float = 1.0, stem: str = "cifar", dtype: Any = jnp.float32) -> MobileNetV2:
    """torchvision's mobilenet_v2 without dropout and classifier (2.2M parameters at alpha = 1)."""
    return MobileNetV2(width_multiplier=width_multiplier, stem=stem, dtype=dtype)


def mobilenet_v1_micro(
    width_multiplier: float = 1.0, stem: str = "cifar", dtype: Any = jnp.float32
) -> MobileNetV1:
    """An 8-channel stem and four separable layers of 16-32 channels, three resolutions: for tests."""
    layers = ((16, 1), (16, 2), (32, 1), (32, 2))
    return MobileNetV1(width_multiplier=width_multiplier, stem=stem, layers=layers, stem_width=8, dtype=dtype)


def mobilenet_v2_micro(
    width_multiplier: float = 1.0, stem: str = "cifar", dtype: Any = jnp.float32
) -> MobileNetV2:
    """A 16-channel stem, four inverted residuals (one with a shortcut), a 64-channel last convolution,
    three resolutions: for tests."""
    settings = ((1, 8, 1, 1), (6, 16, 1, 2), (6, 24, 2, 2))
    return MobileNetV2(
        width_multiplier=width_multiplier,
        stem=stem,
        settings=settings,
        stem_width=16,
        last_width=64,
        dtype=dtype,
    )
