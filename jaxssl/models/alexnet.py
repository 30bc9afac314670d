"""AlexNet (Krizhevsky, Sutskever & Hinton 2012, "ImageNet Classification with Deep Convolutional
Neural Networks"), in torchvision's single-tower layout (Krizhevsky 2014, "One weird trick...":
64-192-384-256-256 filters, no local response normalisation, no two-GPU split).

Layout with stem="imagenet" (224 px -> map sizes), this module -> torchvision `alexnet` names:

    conv1  11x11/4, pad 2, 64    55x55   features.0      then max pool 3x3/2 -> 27
    conv2  5x5, pad 2, 192       27x27   features.3      then max pool 3x3/2 -> 13
    conv3  3x3, pad 1, 384       13x13   features.6
    conv4  3x3, pad 1, 256       13x13   features.8
    conv5  3x3, pad 1, 256       13x13   features.10     then max pool 3x3/2 -> 6
    adaptive average pool to 6x6 (torchvision's `avgpool`), flatten
    dropout, fc6 9216 -> 4096, ReLU   classifier.1
    dropout, fc7 4096 -> 4096, ReLU   classifier.4
    fc8 4096 -> 1000                  classifier.6, left out: the backbone has no classifier

The ImageNet layout needs inputs of at least 63 px (torchvision's does too). Without fc8 it has
61,100,840 - 4,097,000 = 57,003,840 parameters.

stem="cifar" is a small-image variant for 28-32 px inputs: conv1 is 5x5/1 (pad 2) instead of
11x11/4; the max pools after conv1 and conv2 stay (32 -> 15 -> 7 px, 28 -> 13 -> 6 px); there
is no pool after conv5 and no FC layer: `__call__` is the global average of conv5, 256 features.
The `dropout` field is then unused.

`feature_maps` returns each convolution's output after its ReLU and before any pool.

Initialisation: convolutions He-normal with fan-out (trains from scratch without the paper's
LRN); FC weights N(0, 0.01) as in the paper (section 5), biases zero.

Export: flax kernels are HWIO (torch OIHW: transpose (3, 2, 0, 1)), Dense kernels (in, out)
(torch (out, in)). fc6 reads the 6x6x256 map flattened in HWC order; torch flattens CHW, so
fc6's rows must be reordered too.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxssl.models import layers

STEMS = ("cifar", "imagenet")

fc_kernel_init = nn.initializers.normal(0.01)


def _pool_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(out, in) averaging weights of torch's adaptive pool: bin i is [floor(i n / m), ceil((i + 1) n / m))."""
    matrix = np.zeros((out_size, in_size), np.float32)
    for i in range(out_size):
        start = (i * in_size) // out_size
        stop = -((-(i + 1) * in_size) // out_size)
        matrix[i, start:stop] = 1.0 / (stop - start)
    return matrix


def adaptive_avg_pool(x, size: int):
    """torch.nn.AdaptiveAvgPool2d(size) on (B, H, W, C): separable, so one matrix per axis."""
    rows = jnp.asarray(_pool_matrix(x.shape[1], size), x.dtype)
    cols = jnp.asarray(_pool_matrix(x.shape[2], size), x.dtype)
    return jnp.einsum("ih,bhwc,jw->bijc", rows, x, cols)


def conv(features: int, kernel: int, stride: int, dtype: Any, name: str, pad: int | None = None) -> nn.Conv:
    """A convolution with bias and `pad` zeros on each side (default kernel // 2, as torchvision's)."""
    return layers.conv(features, kernel, stride, dtype, name, pad=pad, bias=True)


def dense(features: int, dtype: Any, name: str) -> nn.Dense:
    return nn.Dense(features, dtype=dtype, param_dtype=jnp.float32, kernel_init=fc_kernel_init, name=name)


def check_classifier_options(stem: str, fc_width: int, dropout: float) -> None:
    """ValueError unless the options of the fully connected part AlexNet and VGG share are valid: a known
    stem, a positive fc_width and a dropout rate in [0, 1)."""
    if stem not in STEMS:
        raise ValueError(f"unknown stem {stem!r}; choose from {list(STEMS)}")
    if fc_width < 1:
        raise ValueError(f"fc_width must be a positive int, got {fc_width!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")


def fully_connected_layers(fc_width: int, dropout: float, dtype: Any):
    """(fc6, fc7, drop6, drop7): the two hidden fully connected layers of AlexNet and VGG (fc8, the
    classifier, is left out) and their dropouts, to be assigned in `setup` to attributes of the same names."""
    return (
        dense(fc_width, dtype, "fc6"),
        dense(fc_width, dtype, "fc7"),
        nn.Dropout(dropout, name="drop6"),
        nn.Dropout(dropout, name="drop7"),
    )


def max_pool(x, window: int):
    """Unpadded max pool with stride 2 (torch's MaxPool2d(window, 2))."""
    return nn.max_pool(x, (window, window), strides=(2, 2))


class AlexNet(nn.Module):
    """AlexNet trunk; `__call__` gives fc7's activations (imagenet) or pooled conv5 (cifar), float32."""

    widths: tuple[int, int, int, int, int] = (64, 192, 384, 256, 256)
    fc_width: int = 4096
    stem: str = "cifar"
    dropout: float = 0.5
    dtype: Any = jnp.float32

    def __post_init__(self):
        check_classifier_options(self.stem, self.fc_width, self.dropout)
        if len(self.widths) != 5 or min(self.widths) < 1:
            raise ValueError(f"widths must be five positive ints, got {self.widths!r}")
        super().__post_init__()

    @property
    def num_features(self) -> int:
        """fc7's width with the ImageNet layout, conv5's without FC layers."""
        return self.fc_width if self.stem == "imagenet" else self.widths[-1]

    def setup(self):
        # The fully connected part lives here because `feature_maps` is the compact method.
        self.fc6, self.fc7, self.drop6, self.drop7 = fully_connected_layers(
            self.fc_width, self.dropout, self.dtype
        )

    @nn.compact
    def feature_maps(self, x, train: bool) -> dict[str, jax.Array]:
        """{"conv1", ..., "conv5"}: each convolution after its ReLU, before any pool."""
        del train  # no BatchNorm
        x = jnp.asarray(x, self.dtype)
        kernel, stride, pad = (11, 4, 2) if self.stem == "imagenet" else (5, 1, 2)
        maps = {"conv1": nn.relu(conv(self.widths[0], kernel, stride, self.dtype, "conv1", pad)(x))}
        maps["conv2"] = nn.relu(conv(self.widths[1], 5, 1, self.dtype, "conv2")(max_pool(maps["conv1"], 3)))
        x = max_pool(maps["conv2"], 3)
        for index in (3, 4, 5):
            x = maps[f"conv{index}"] = nn.relu(
                conv(self.widths[index - 1], 3, 1, self.dtype, f"conv{index}")(x)
            )
        return maps

    def __call__(self, x, train: bool):
        conv5 = self.feature_maps(x, train)["conv5"]
        if self.stem == "cifar":
            return jnp.mean(conv5.astype(jnp.float32), axis=(1, 2))
        deterministic = not (train and self.has_rng("dropout"))
        y = adaptive_avg_pool(max_pool(conv5, 3), 6)
        y = self.drop6(y.reshape(y.shape[0], -1), deterministic=deterministic)
        y = self.drop7(nn.relu(self.fc6(y)), deterministic=deterministic)
        return nn.relu(self.fc7(y)).astype(jnp.float32)


def alexnet(stem: str = "cifar", dropout: float = 0.5, dtype: Any = jnp.float32) -> AlexNet:
    """torchvision's AlexNet without fc8 (stem="imagenet", 57.0M parameters) or its small-image variant."""
    return AlexNet(stem=stem, dropout=dropout, dtype=dtype)


def alexnet_micro(stem: str = "cifar", dropout: float = 0.5, dtype: Any = jnp.float32) -> AlexNet:
    """AlexNet's layout with 8-16 filters and 32-unit FC layers: for tests, compiles in a second or two."""
    return AlexNet(widths=(8, 16, 16, 16, 16), fc_width=32, stem=stem, dropout=dropout, dtype=dtype)
