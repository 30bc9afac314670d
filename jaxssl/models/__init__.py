"""Backbones and heads, written for one global array (no axis names, no device logic)."""

from jaxssl.models import resnet
from jaxssl.models.heads import MLP
from jaxssl.models.resnet import ResNet

BACKBONES = {
    "resnet10": resnet.resnet10,
    "resnet18": resnet.resnet18,
    "resnet34": resnet.resnet34,
    "resnet50": resnet.resnet50,
    "resnet_micro": resnet.resnet_micro,
}


def make_backbone(name: str, **kwargs) -> ResNet:
    """Builds the backbone registered as `name`; kwargs: width_multiplier, stem, dtype."""
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; choose from {sorted(BACKBONES)}")
    return BACKBONES[name](**kwargs)


__all__ = ["BACKBONES", "MLP", "ResNet", "make_backbone"]
