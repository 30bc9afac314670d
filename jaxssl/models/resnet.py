"""ResNet backbones (He et al. 2016, "Deep Residual Learning for Image Recognition").

The backbone maps NHWC images to pooled features (B, num_features); it has no classifier. `feature_maps`
exposes the stem's and every stage's map. norm="layer" replaces every BatchNorm by a LayerNorm (CPC v2).
Written for one global array: under `jax.jit` with a sharded batch, BatchNorm statistics
already cover the global batch, so there are no axis names here.
"""

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxssl.models import layers

STEMS = ("cifar", "imagenet")


class _ResidualBlock(nn.Module):
    """Shared fields and shortcut of the two block kinds; subclasses define `residual`."""

    filters: int
    stride: int = 1
    dtype: Any = jnp.float32
    bn_momentum: float = 0.9
    norm: str = "batch"
    drop_path: float = 0.0
    expansion = 1  # output channels / filters; a class constant, not a dataclass field

    def _norm(self, train: bool, name: str, zero_scale: bool = False):
        return layers.norm_layer(self.norm, train, self.bn_momentum, self.dtype, name, zero_scale=zero_scale)

    def shortcut(self, x, train: bool):
        """Identity, or a strided 1x1 conv + BN when the shape changes (option B of He et al.)."""
        out_channels = self.filters * self.expansion
        if self.stride == 1 and x.shape[-1] == out_channels:
            return x
        y = layers.conv(out_channels, 1, self.stride, self.dtype, "proj_conv")(x)
        return self._norm(train, "proj_bn")(y)

    @nn.compact
    def __call__(self, x, train: bool):
        residual = layers.drop_branch(self, self.residual(x, train), self.drop_path, train)
        return nn.relu(residual + self.shortcut(x, train))


class BasicBlock(_ResidualBlock):
    """Two 3x3 convolutions (ResNet-18/34); the stride sits on the first one."""

    expansion = 1

    def residual(self, x, train: bool):
        y = layers.conv(self.filters, 3, self.stride, self.dtype, "conv1")(x)
        y = nn.relu(self._norm(train, "bn1")(y))
        y = layers.conv(self.filters, 3, 1, self.dtype, "conv2")(y)
        return self._norm(train, "bn2", zero_scale=True)(y)


class BottleneckBlock(_ResidualBlock):
    """1x1 reduce, 3x3, 1x1 expand by 4 (ResNet-50); the stride sits on the 3x3 (torchvision's v1.5)."""

    expansion = 4

    def residual(self, x, train: bool):
        y = layers.conv(self.filters, 1, 1, self.dtype, "conv1")(x)
        y = nn.relu(self._norm(train, "bn1")(y))
        y = layers.conv(self.filters, 3, self.stride, self.dtype, "conv2")(y)
        y = nn.relu(self._norm(train, "bn2")(y))
        y = layers.conv(self.filters * self.expansion, 1, 1, self.dtype, "conv3")(y)
        return self._norm(train, "bn3", zero_scale=True)(y)


BLOCKS = {"basic": BasicBlock, "bottleneck": BottleneckBlock}


class ResNet(nn.Module):
    """ResNet trunk: stem, residual stages, global average pool; returns float32 (B, num_features).

    Stage i has `width * 2**i` filters (times 4 at a bottleneck's output); the first block of
    every stage after the first halves the resolution. Parameters are float32 whatever `dtype`
    (the computation dtype) is. `drop_path`: the stochastic depth of the last block, the others' rising
    linearly to it (Huang et al. 2016; the noise of Noisy Student's students), in training with a "dropout"
    rng only.
    """

    stage_sizes: tuple[int, ...]
    block: str
    width: int = 64
    stem: str = "cifar"
    dtype: Any = jnp.float32
    bn_momentum: float = 0.9
    norm: str = "batch"
    drop_path: float = 0.0

    def __post_init__(self):
        if self.norm not in layers.NORMS:
            raise ValueError(f"unknown norm {self.norm!r}; choose from {list(layers.NORMS)}")
        if self.block not in BLOCKS:
            raise ValueError(f"unknown block {self.block!r}; choose from {sorted(BLOCKS)}")
        if self.stem not in STEMS:
            raise ValueError(f"unknown stem {self.stem!r}; choose from {list(STEMS)}")
        if not self.stage_sizes or min(self.stage_sizes) < 1:
            raise ValueError(f"stage_sizes must be non-empty positive ints, got {self.stage_sizes!r}")
        if self.width < 1:
            raise ValueError(f"width must be a positive int, got {self.width!r}")
        if not 0.0 <= self.drop_path < 1.0:
            raise ValueError(f"drop_path must be in [0, 1), got {self.drop_path!r}")
        super().__post_init__()

    @property
    def num_features(self) -> int:
        """Channels of the pooled output: width * 2**(stages - 1) * block expansion."""
        return self.width * 2 ** (len(self.stage_sizes) - 1) * BLOCKS[self.block].expansion

    def _stem(self, x, train: bool):
        if self.stem == "cifar":
            x = layers.conv(self.width, 3, 1, self.dtype, "stem_conv")(x)
            return nn.relu(layers.norm_layer(self.norm, train, self.bn_momentum, self.dtype, "stem_bn")(x))
        x = layers.conv(self.width, 7, 2, self.dtype, "stem_conv")(x)
        x = nn.relu(layers.norm_layer(self.norm, train, self.bn_momentum, self.dtype, "stem_bn")(x))
        return nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)))

    @nn.compact
    def feature_maps(self, x, train: bool) -> dict:
        """{"stem": after the stem (and its max-pool), "stage<i>": after residual stage i}, in order."""
        block_cls = functools.partial(
            BLOCKS[self.block], dtype=self.dtype, bn_momentum=self.bn_momentum, norm=self.norm
        )
        x = self._stem(jnp.asarray(x, self.dtype), train)
        maps = {"stem": x}
        rates = iter(layers.drop_path_rates(self.drop_path, sum(self.stage_sizes)))
        for stage, num_blocks in enumerate(self.stage_sizes):
            for index in range(num_blocks):
                stride = 2 if stage > 0 and index == 0 else 1
                block = block_cls(
                    self.width * 2**stage, stride, drop_path=next(rates), name=f"stage{stage}_block{index}"
                )
                x = block(x, train)
            maps[f"stage{stage}"] = x
        return maps

    def __call__(self, x, train: bool):
        """The global average pool of the last stage's map."""
        last = list(self.feature_maps(x, train).values())[-1]
        return jnp.mean(last.astype(jnp.float32), axis=(1, 2))


def _scaled_width(base_width: int, width_multiplier: float) -> int:
    return max(1, round(base_width * width_multiplier))


def _builder(stage_sizes: tuple[int, ...], block: str, base_width: int, doc: str):
    """A ResNet builder of fixed depth: its options are the family's (config.model's keys)."""

    def build(
        width_multiplier: float = 1.0,
        stem: str = "cifar",
        dtype: Any = jnp.float32,
        norm: str = "batch",
        drop_path: float = 0.0,
    ) -> ResNet:
        width = _scaled_width(base_width, width_multiplier)
        return ResNet(stage_sizes, block, width, stem, dtype, norm=norm, drop_path=drop_path)

    build.__doc__ = doc
    return build


resnet10 = _builder((1, 1, 1, 1), "basic", 64, "ResNet-10: one basic block per stage.")
resnet18 = _builder((2, 2, 2, 2), "basic", 64, "ResNet-18 (torchvision's resnet18 without its fc).")
resnet34 = _builder((3, 4, 6, 3), "basic", 64, "ResNet-34 (torchvision's resnet34 without its fc).")
resnet50 = _builder(
    (3, 4, 6, 3), "bottleneck", 64, "ResNet-50, v1.5 (torchvision's resnet50 without its fc)."
)
resnet_micro = _builder(
    (1, 1), "basic", 8, "Two one-block stages of 8 and 16 channels: for tests, compiles in a second or two."
)
