"""VGG (Simonyan & Zisserman 2015, "Very Deep Convolutional Networks for Large-Scale Image
Recognition"): configuration A (VGG-11) and D (VGG-16) of Table 1, with or without BatchNorm
after each convolution (Ioffe & Szegedy 2015; torchvision's `vgg11_bn` / `vgg16_bn`).

Layout: five stages of 3x3 convolutions (pad 1, with bias, then [BN,] ReLU), 64-128-256-512-512
filters, VGG-11 with 1-1-2-2-2 convolutions per stage and VGG-16 with 2-2-3-3-3, a 2x2/2 max pool
after each stage. With stem="imagenet" follow torchvision's adaptive average pool to 7x7, then
fc6 25088 -> 4096, ReLU, dropout, fc7 4096 -> 4096, ReLU, dropout; fc8 (-> 1000) is left out, so
`__call__` returns what fc8 would see: (B, 4096). Parameters without fc8: torchvision's figure
minus 4,097,000 (vgg11 128,766,336; vgg11_bn 128,771,840; vgg16 134,260,544; vgg16_bn 134,268,992).

stem="cifar" keeps the convolutions and drops the last stage's pool (28 px -> 14 -> 7 -> 3 -> 1,
32 px -> 16 -> 8 -> 4 -> 2 at stage 5) and the FC layers: `__call__` is the global average of
stage 5, 512 features; the `dropout` field is then unused.

`feature_maps` returns {"stage1", ..., "stage5"}: each stage's last ReLU output, before its pool.

Names, this module -> torchvision: convolution i (1-based) of stage s is `conv{s}_{i}` (the
paper's and Caffe's conv5_3) and its BatchNorm `bn{s}_{i}`. torchvision numbers `features.k`
over its layer list, in which a convolution takes 2 slots (conv, ReLU), 3 with BN (conv, BN,
ReLU), and a pool 1. So the convolutions are
    vgg11    features.{0, 3, 6, 8, 11, 13, 16, 18}
    vgg11_bn features.{0, 4, 8, 11, 15, 18, 22, 25}           (each BN at the next index)
    vgg16    features.{0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28}
    vgg16_bn features.{0, 3, 7, 10, 14, 17, 20, 24, 27, 30, 34, 37, 40}
and fc6, fc7 are classifier.0, classifier.3 (fc8 is classifier.6). As in torchvision, the
convolutions keep their bias even before BN, so that parameter counts and exports match.
Flax kernels are HWIO (torch OIHW: transpose (3, 2, 0, 1)), Dense kernels (in, out); fc6 reads
the 7x7x512 map flattened in HWC order where torch flattens CHW, so its rows must be reordered.
BN scale/bias/mean/var are torch's weight/bias/running_mean/running_var; momentum 0.9 is
torch's 0.1.

Initialisation as torchvision's: convolutions He-normal with fan-out, FC weights N(0, 0.01),
biases zero.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxssl.models import layers
from jaxssl.models.alexnet import adaptive_avg_pool, check_classifier_options, conv, fully_connected_layers

WIDTHS = (64, 128, 256, 512, 512)


class VGG(nn.Module):
    """VGG trunk; `__call__` gives fc7's activations (imagenet) or pooled stage 5 (cifar), float32."""

    stage_convs: tuple[int, ...]
    widths: tuple[int, ...] = WIDTHS
    batch_norm: bool = False
    fc_width: int = 4096
    stem: str = "cifar"
    dropout: float = 0.5
    dtype: Any = jnp.float32
    bn_momentum: float = 0.9

    def __post_init__(self):
        check_classifier_options(self.stem, self.fc_width, self.dropout)
        if not self.stage_convs or min(self.stage_convs) < 1:
            raise ValueError(f"stage_convs must be non-empty positive ints, got {self.stage_convs!r}")
        if len(self.widths) != len(self.stage_convs) or min(self.widths) < 1:
            raise ValueError(
                f"widths {self.widths!r} must be positive, one per stage of {self.stage_convs!r}"
            )
        super().__post_init__()

    @property
    def num_features(self) -> int:
        """fc7's width with the ImageNet layout, the last stage's without FC layers."""
        return self.fc_width if self.stem == "imagenet" else self.widths[-1]

    def setup(self):
        # The fully connected part lives here because `feature_maps` is the compact method.
        self.fc6, self.fc7, self.drop6, self.drop7 = fully_connected_layers(
            self.fc_width, self.dropout, self.dtype
        )

    def _conv_bn_relu(self, x, train: bool, features: int, name: str):
        x = conv(features, 3, 1, self.dtype, f"conv{name}")(x)
        if self.batch_norm:
            x = layers.batch_norm(train, self.bn_momentum, self.dtype, f"bn{name}")(x)
        return nn.relu(x)

    @nn.compact
    def feature_maps(self, x, train: bool) -> dict[str, jax.Array]:
        """{"stage1", ...}: each stage's last ReLU output, before its max pool."""
        x = jnp.asarray(x, self.dtype)
        maps = {}
        for stage, (num_convs, width) in enumerate(zip(self.stage_convs, self.widths, strict=True), start=1):
            if stage > 1:
                x = nn.max_pool(x, (2, 2), strides=(2, 2))
            for index in range(1, num_convs + 1):
                x = self._conv_bn_relu(x, train, width, f"{stage}_{index}")
            maps[f"stage{stage}"] = x
        return maps

    def __call__(self, x, train: bool):
        last = self.feature_maps(x, train)[f"stage{len(self.stage_convs)}"]
        if self.stem == "cifar":
            return jnp.mean(last.astype(jnp.float32), axis=(1, 2))
        deterministic = not (train and self.has_rng("dropout"))
        y = adaptive_avg_pool(nn.max_pool(last, (2, 2), strides=(2, 2)), 7)
        y = self.drop6(nn.relu(self.fc6(y.reshape(y.shape[0], -1))), deterministic=deterministic)
        return self.drop7(nn.relu(self.fc7(y)), deterministic=deterministic).astype(jnp.float32)


def vgg11(
    batch_norm: bool = False, stem: str = "cifar", dropout: float = 0.5, dtype: Any = jnp.float32
) -> VGG:
    """Configuration A: 8 convolutions (torchvision `vgg11` / `vgg11_bn` without fc8)."""
    return VGG((1, 1, 2, 2, 2), batch_norm=batch_norm, stem=stem, dropout=dropout, dtype=dtype)


def vgg16(
    batch_norm: bool = False, stem: str = "cifar", dropout: float = 0.5, dtype: Any = jnp.float32
) -> VGG:
    """Configuration D: 13 convolutions (torchvision `vgg16` / `vgg16_bn` without fc8)."""
    return VGG((2, 2, 3, 3, 3), batch_norm=batch_norm, stem=stem, dropout=dropout, dtype=dtype)


def vgg_micro(
    batch_norm: bool = False, stem: str = "cifar", dropout: float = 0.5, dtype: Any = jnp.float32
) -> VGG:
    """Five one-convolution stages of 8-16 filters and 32-unit FC layers: for tests."""
    return VGG(
        (1, 1, 1, 1, 1), (8, 8, 16, 16, 16), batch_norm, fc_width=32, stem=stem, dropout=dropout, dtype=dtype
    )
