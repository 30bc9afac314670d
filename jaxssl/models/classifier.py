"""A classifier on a (pretrained or fresh) backbone: the network of the linear probe and of fine-tuning."""

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxssl.models.network import normalize


class Classifier(nn.Module):
    """x in [0, 1] -> class logits (B, num_classes) of a linear head on the backbone's features.

    Its params are {"backbone", "head"}, so the backbone subtree of an SSLNetwork's params (and batch
    statistics) loads into it unchanged.

    train_backbone False (linear probe): the backbone runs in inference mode (running BatchNorm statistics)
    under stop_gradient, and the head is a BatchNorm without scale or offset followed by Dense, so features of
    any scale reach the classifier standardised (the probe of MoCo v3 and MAE, He et al. 2022, appendix A.2).
    train_backbone True (fine-tuning, supervised training): everything trains, BatchNorm in training mode.
    """

    backbone: nn.Module
    num_classes: int
    image_mean: tuple[float, ...]
    image_std: tuple[float, ...]
    train_backbone: bool

    @nn.compact
    def __call__(self, x, train: bool):
        features = self.backbone(
            normalize(x, self.image_mean, self.image_std), train=train and self.train_backbone
        )
        if not self.train_backbone:
            features = jax.lax.stop_gradient(features)
            features = nn.BatchNorm(
                use_running_average=not train, use_scale=False, use_bias=False, name="head_norm"
            )(features)
        return nn.Dense(self.num_classes, name="head")(jnp.asarray(features, jnp.float32))
