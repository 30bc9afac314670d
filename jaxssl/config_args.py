"""From config blocks to the arguments of what they configure: the run's wiring (jaxssl/experiment.py) and its
checks (jaxssl/validate.py, jaxssl/validate_eval.py) read the same arguments from the same block, and a block's
keys are checked against the signature of the function they feed."""

import inspect

import jax.numpy as jnp

from jaxssl import models, sharding

DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}  # config.train.dtype: the compute dtype


def check_kwargs(fn, kwargs: dict, where: str, provided=()) -> None:
    """ValueError when `kwargs` holds a key that `fn` does not take (or one the run provides itself)."""
    accepted = set(inspect.signature(fn).parameters) - set(provided)
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in config.{where}; allowed: {sorted(accepted)}")


def check_name(name: str, allowed, what: str) -> None:
    if name not in allowed:
        raise ValueError(f"unknown {what} {name!r}; choose from {sorted(allowed)}")


def without(block, key: str) -> dict:
    """A config block as a dict, less the key that names what it configures (a registry's name)."""
    return {k: v for k, v in block.items() if k != key}


def backbone_kwargs(config, dtype) -> dict:
    """The backbone builder's arguments: the family's options in config.model, the compute dtype, and the
    image size where the family stores a grid for it (a ViT's position embeddings)."""
    builder = models.BACKBONES[config.model.backbone]
    kwargs = dict(without(config.model, "backbone"), dtype=dtype)
    if "image_size" in inspect.signature(builder).parameters:
        kwargs["image_size"] = int(config.data.image_size)
    return kwargs


def optimizer_kwargs(config) -> dict:
    """config.optim minus what the run resolves itself (name, the lr, its scaling and schedule, the probe's
    lr)."""
    resolved = ("name", "base_lr", "lr_scaling", "probe_lr", "schedule")
    return {k: v for k, v in config.optim.items() if k not in resolved}


def min_split_weight_bytes(config) -> int:
    """The size from which a weight is split over the devices (config.mesh.min_split_weight_bytes); the
    default for a config written before the mesh block existed."""
    return config.get("mesh", {}).get("min_split_weight_bytes", sharding.DEFAULT_MIN_SPLIT_WEIGHT_BYTES)
