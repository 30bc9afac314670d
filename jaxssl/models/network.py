"""The network every SSL method trains: input normalisation, backbone, projector, optional predictor."""

import flax.linen as nn
import jax.numpy as jnp


def normalize(x, mean: tuple[float, ...], std: tuple[float, ...]):
    """Images in [0, 1] standardised per channel with the dataset's mean and std."""
    return (x - jnp.asarray(mean, x.dtype)) / jnp.asarray(std, x.dtype)


class SSLNetwork(nn.Module):
    """x in [0, 1] -> {"features": backbone output, "projection": z, "prediction": q(z) if a predictor}."""

    backbone: nn.Module
    projector: nn.Module
    predictor: nn.Module | None
    image_mean: tuple[float, ...]
    image_std: tuple[float, ...]

    def features(self, x, train: bool):
        """Backbone representation of images in [0, 1]; what kNN and the linear probes evaluate."""
        return self.backbone(normalize(x, self.image_mean, self.image_std), train=train)

    def __call__(self, x, train: bool):
        features = self.features(x, train)
        projection = self.projector(features, train=train)
        outputs = {"features": features, "projection": projection}
        if self.predictor is not None:
            outputs["prediction"] = self.predictor(projection, train=train)
        return outputs
