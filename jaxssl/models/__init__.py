"""Backbones and heads, written for one global array (no axis names, no device logic).

Every backbone follows one contract: `__call__(x, train) -> (B, num_features)` float32 on normalised NHWC
images, `feature_maps(x, train) -> {name: (B, h, w, C)}` its named intermediate maps in order (the last one
what `__call__` pools, or flattens into its fully connected layers), a `num_features` property, float32
parameters whatever the compute `dtype`, and dropout or drop path only where the caller passes a "dropout"
PRNG stream. A family's options are its builders' keyword arguments (config.model holds them); the families
are the registered names' prefixes (jaxssl/catalog.py FAMILIES).
"""

import functools

from jaxssl.models import alexnet, lenet, mobilenet, resnet, vgg, vit, wide_resnet
from jaxssl.models.heads import MLP, DINOHead, Prototypes, projector_and_predictor
from jaxssl.models.network import FeatureNetwork, SSLNetwork, normalize
from jaxssl.models.resnet import ResNet
from jaxssl.models.vit import ViT

BACKBONES = {
    "resnet10": resnet.resnet10,
    "resnet18": resnet.resnet18,
    "resnet34": resnet.resnet34,
    "resnet50": resnet.resnet50,
    "resnet_micro": resnet.resnet_micro,
    "wide_resnet28_2": wide_resnet.wide_resnet28_2,
    "wide_resnet28_8": wide_resnet.wide_resnet28_8,
    "wide_resnet_micro": wide_resnet.wide_resnet_micro,
    "vit_base": functools.partial(vit.vit, "base"),
    "vit_small": functools.partial(vit.vit, "small"),
    "vit_tiny": functools.partial(vit.vit, "tiny"),
    "vit_micro": functools.partial(vit.vit, "micro"),
    "lenet5": lenet.lenet5,
    "alexnet": alexnet.alexnet,
    "alexnet_micro": alexnet.alexnet_micro,
    "vgg11": vgg.vgg11,
    "vgg16": vgg.vgg16,
    "vgg_micro": vgg.vgg_micro,
    "mobilenet_v1": mobilenet.mobilenet_v1,
    "mobilenet_v2": mobilenet.mobilenet_v2,
    "mobilenet_v1_micro": mobilenet.mobilenet_v1_micro,
    "mobilenet_v2_micro": mobilenet.mobilenet_v2_micro,
}


def make_backbone(name: str, **kwargs):
    """Builds the backbone registered as `name` with its family's options (and dtype)."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose from {sorted(BACKBONES)}")
    return BACKBONES[name](**kwargs)


__all__ = [
    "BACKBONES",
    "MLP",
    "DINOHead",
    "FeatureNetwork",
    "Prototypes",
    "ResNet",
    "SSLNetwork",
    "ViT",
    "make_backbone",
    "normalize",
    "projector_and_predictor",
]
