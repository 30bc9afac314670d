"""LeNet-5 (LeCun, Bottou, Bengio & Haffner 1998, "Gradient-Based Learning Applied to Document
Recognition", section II.B and Fig. 2).

Layout, paper -> this module (-> the PyTorch tutorial's LeNet names, there is no torchvision LeNet):

    C1  6 maps, 5x5 conv (valid), 32 -> 28 px      conv1   (conv1)
    S2  2x2 subsampling, 28 -> 14                    average pool, no parameters
    C3  16 maps, 5x5 conv (valid), 14 -> 10          conv2   (conv2)
    S4  2x2 subsampling, 10 -> 5                     average pool, no parameters
    C5  120 units on the 5x5x16 map                  fc1     (fc1), a Dense on the flattened map
    F6  84 units                                     fc2     (fc2)
    output: 10 Euclidean RBF units                   left out: the backbone has no classifier

Departures from the paper, as in the common modern LeNet-5 (whose 61,706 parameters with an
84 -> 10 output layer this module reproduces, 60,856 without it):
- C3 connects to all six S2 maps (2,416 parameters) instead of the paper's partial table (1,516).
- S2/S4 are plain 2x2 average pools: the paper's per-map trainable coefficient and bias (and the
  squashing after them) are dropped; the activation follows each convolution instead.
- `activation="tanh"` is the paper's scaled tanh f(a) = 1.7159 tanh(2a/3) (Appendix A);
  `activation="relu"` is the usual modern choice.

Input size: the classic LeNet-5 takes 32x32 images (LeCun et al. centred the 28x28 MNIST field
in a 32x32 input). Images smaller than `input_size` are therefore zero-padded, centred, to it
inside the network: (B, 28, 28, C) becomes (B, 32, 32, C). After dataset normalisation zero is
the mean pixel value. Larger images raise ValueError, so that the FC layers keep their size.

Export: flax kernels are HWIO (torch OIHW: transpose (3, 2, 0, 1)) and Dense kernels (in, out)
(torch (out, in)). fc1 reads the 5x5x16 map flattened in HWC order; torch flattens CHW, so fc1's
rows must be reordered too.
"""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

ACTIVATIONS = ("tanh", "relu")


def scaled_tanh(x):
    """LeCun et al. 1998, Appendix A: f(a) = A tanh(S a) with A = 1.7159 and S = 2/3."""
    return 1.7159 * jnp.tanh(x * (2.0 / 3.0))


def _pad_to(x, size: int):
    """Zero-pads (B, H, W, C) images, centred, to (B, size, size, C)."""
    height, width = x.shape[1:3]
    if height > size or width > size:
        raise ValueError(f"LeNet-5 takes images up to {size}x{size} px, got {height}x{width}")
    top, left = (size - height) // 2, (size - width) // 2
    return jnp.pad(x, ((0, 0), (top, size - height - top), (left, size - width - left), (0, 0)))


class LeNet5(nn.Module):
    """LeNet-5 trunk: two conv + pool stages, then the C5 and F6 fully connected layers.

    `feature_maps` returns the conv maps after their activation (before the pools);
    `__call__` returns F6's activations, float32 (B, 84).
    """

    activation: str = "tanh"
    input_size: int = 32
    dtype: Any = jnp.float32

    def __post_init__(self):
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; choose from {list(ACTIVATIONS)}")
        if self.input_size < 16:
            raise ValueError(f"input_size must be at least 16 px for two 5x5 convs, got {self.input_size!r}")
        super().__post_init__()

    @property
    def num_features(self) -> int:
        """Units of F6."""
        return 84

    def setup(self):
        # The fully connected part lives here because `feature_maps` is the compact method.
        self.fc1 = nn.Dense(120, dtype=self.dtype, param_dtype=jnp.float32, name="fc1")
        self.fc2 = nn.Dense(84, dtype=self.dtype, param_dtype=jnp.float32, name="fc2")

    def _act(self, x):
        return scaled_tanh(x) if self.activation == "tanh" else nn.relu(x)

    def _conv(self, features: int, name: str) -> nn.Conv:
        return nn.Conv(
            features, (5, 5), padding="VALID", dtype=self.dtype, param_dtype=jnp.float32, name=name
        )

    @nn.compact
    def feature_maps(self, x, train: bool) -> dict[str, jax.Array]:
        """{"conv1": (B, 28, 28, 6), "conv2": (B, 10, 10, 16)} for a 32 px (or padded 28 px) input."""
        del train  # no BatchNorm, no dropout
        x = _pad_to(jnp.asarray(x, self.dtype), self.input_size)
        conv1 = self._act(self._conv(6, "conv1")(x))
        pooled = nn.avg_pool(conv1, (2, 2), strides=(2, 2))
        conv2 = self._act(self._conv(16, "conv2")(pooled))
        return {"conv1": conv1, "conv2": conv2}

    def __call__(self, x, train: bool):
        conv2 = self.feature_maps(x, train)["conv2"]
        y = nn.avg_pool(conv2, (2, 2), strides=(2, 2))
        y = self._act(self.fc1(y.reshape(y.shape[0], -1)))
        return self._act(self.fc2(y)).astype(jnp.float32)


def lenet5(activation: str = "tanh", dtype: Any = jnp.float32) -> LeNet5:
    """LeNet-5 for 32x32 inputs (28x28 ones are zero-padded to 32); 60,856 parameters."""
    return LeNet5(activation=activation, dtype=dtype)
