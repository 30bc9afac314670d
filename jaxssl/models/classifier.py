"""A classifier on a (pretrained or fresh) network: the network of the linear probe and of fine-tuning."""

import flax.linen as nn
import jax
import jax.numpy as jnp


class Classifier(nn.Module):
    """x in [0, 1] -> class logits (B, num_classes) of a linear head on `network.features(x)`.

    `network` is any network of the contract in models/network.py (a method's own network, with its own
    input path). Its params are {"network", "head"} (and "head_norm" statistics for the probe): the
    "network" subtree holds exactly what the features path creates, so the matching subtrees of a
    pretrained network's params and batch statistics load into it unchanged.

    train_backbone False (linear probe): the network runs in inference mode (running BatchNorm statistics,
    no dropout) under stop_gradient, and the head is a BatchNorm without scale or offset followed by Dense,
    so features of any scale reach the classifier standardised (the probe of MoCo v3 and MAE, He et al.
    2022, appendix A.2). train_backbone True (fine-tuning, supervised training): everything trains,
    BatchNorm in training mode, dropout and drop path where the network has them.

    head_layers > 0: the head reads the features through the first head_layers hidden layers of the
    network's projector (SSLNetwork.head_features), which then belong to the network (their pretrained
    weights load with it, and train or stay frozen with it): SimCLR v2 fine-tunes from the first layer of its
    3-layer projection head (Chen et al. 2020b, section 2).
    """

    network: nn.Module
    num_classes: int
    train_backbone: bool
    head_layers: int = 0

    @nn.compact
    def __call__(self, x, train: bool):
        network_train = train and self.train_backbone
        if self.head_layers:
            features = self.network.head_features(x, train=network_train, layers=self.head_layers)
        else:
            features = self.network.features(x, train=network_train)
        if not self.train_backbone:
            features = jax.lax.stop_gradient(features)
            features = nn.BatchNorm(
                use_running_average=not train, use_scale=False, use_bias=False, name="head_norm"
            )(features)
        return nn.Dense(self.num_classes, name="head")(jnp.asarray(features, jnp.float32))
