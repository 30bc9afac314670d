"""The network of the reconstruction pretext tasks (context encoder, denoising autoencoder): the backbone as
encoder, a convolutional decoder from its last feature map back to the image, and, for the context
encoder's optional adversarial term, a small convolutional discriminator.

It follows the network contract of models/network.py: `features` and `feature_maps` are the backbone's on
the normalised image; `__call__` on a full-image batch creates every parameter (decoder and discriminator
included). Pixels in and out of `reconstruct` are in the normalised space of `models.network.normalize`.
"""

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxssl.models.network import FeatureNetwork, normalize


class ConvDecoder(nn.Module):
    """(B, h, w, D) -> (B, size, size, channels): doubling the resolution (nearest) with a 3 x 3 convolution
    and ReLU at each of ceil(log2(size / h)) stages, the width halving from `width` (at least 16), a bilinear
    resize to exactly `size`, then a 3 x 3 convolution to the pixels (Pathak et al. 2016's decoder: up-
    convolutions from the encoder's last map to the image)."""

    size: int
    channels: int
    width: int = 128

    @nn.compact
    def __call__(self, x):
        x = jnp.asarray(x, jnp.float32)
        stages = max(0, math.ceil(math.log2(self.size / x.shape[1])))
        width = self.width
        for stage in range(stages):
            batch, height, _, depth = x.shape
            x = jax.image.resize(x, (batch, 2 * height, 2 * height, depth), "nearest")
            x = nn.relu(nn.Conv(width, (3, 3), name=f"up{stage}")(x))
            width = max(16, width // 2)
        x = jax.image.resize(x, (x.shape[0], self.size, self.size, x.shape[-1]), "linear")
        return nn.Conv(self.channels, (3, 3), name="pixels")(x)


class Discriminator(nn.Module):
    """(B, S, S, C) normalised pixels -> (B,) real/fake logits: strided 4 x 4 convolutions with leaky ReLU
    (the DCGAN discriminator of Pathak et al. 2016, section 3.2, made small), global mean, a linear layer."""

    width: int = 32
    depth: int = 3

    @nn.compact
    def __call__(self, x):
        for index in range(self.depth):
            x = nn.leaky_relu(
                nn.Conv(self.width * 2**index, (4, 4), strides=(2, 2), name=f"conv{index}")(x), 0.2
            )
        return nn.Dense(1, name="logit")(jnp.mean(x, axis=(1, 2)))[:, 0]


class AutoencoderNetwork(FeatureNetwork):
    """x in [0, 1] -> {"features", "reconstruction" (normalised pixels), "realness" (discriminator logits)}.

    `reconstruct(x01, train)` encodes images (already corrupted or masked, in [0, 1]) with the backbone and
    decodes its last feature map; `discriminate(pixels)` scores normalised pixels. The discriminator exists
    only when `adversarial`."""

    decoder: nn.Module
    discriminator: nn.Module | None

    def reconstruct(self, x, train: bool):
        maps = self.backbone.feature_maps(normalize(x, self.image_mean, self.image_std), train=train)
        return self.decoder(list(maps.values())[-1])

    def discriminate(self, pixels):
        return self.discriminator(pixels)

    def __call__(self, x, train: bool):
        outputs = {"features": self.features(x, train), "reconstruction": self.reconstruct(x, train)}
        if self.discriminator is not None:
            outputs["realness"] = self.discriminate(outputs["reconstruction"])
        return outputs
