"""The network of colorization (Zhang, Isola and Efros 2016): the backbone sees only the lightness L of an
RGB image, and a dense head on its last feature map gives, at every position of that map, logits over the
quantised ab colours (augment.pretext.ab_bins).

It follows the network contract of models/network.py: `features(x, train)` takes RGB in [0, 1] and feeds
the backbone its L channel, as in training, so every protocol evaluates the network on what it learned
from; `__call__` on a full-image batch creates every parameter.
"""

import flax.linen as nn
import jax.numpy as jnp

from jaxssl.augment.lab import rgb_to_lab


def lightness(x):
    """RGB in [0, 1] (B, H, W, 3) -> the CIE lightness (B, H, W, 1), centred and scaled to [-1, 1]."""
    return (rgb_to_lab(x)[..., :1] - 50.0) / 50.0


class ColorizationNetwork(nn.Module):
    """x RGB in [0, 1] -> {"features": backbone(L), "logits": (B, h, w, num_bins) on the last feature map}."""

    backbone: nn.Module
    num_bins: int

    def setup(self):
        self.head = nn.Dense(self.num_bins, name="head")  # a 1 x 1 convolution over the map's channels

    def features(self, x, train: bool):
        return self.backbone(lightness(x), train=train)

    def feature_maps(self, x, train: bool):
        return self.backbone.feature_maps(lightness(x), train=train)

    def dense_logits(self, x, train: bool):
        """(B, h, w, num_bins) float32 logits over the ab bins at every position of the last feature map."""
        last = list(self.feature_maps(x, train).values())[-1]
        return self.head(jnp.asarray(last, jnp.float32))

    def __call__(self, x, train: bool):
        return {"features": self.features(x, train), "logits": self.dense_logits(x, train)}
