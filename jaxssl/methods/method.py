"""A method is a record of functions, built by `make(**kwargs)` in its own file."""

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax


@dataclasses.dataclass(frozen=True)
class LossAux:
    """What a method's loss returns besides the scalar it is differentiated on.

    batch_stats: the online network's updated BatchNorm statistics.
    metrics: named scalar terms of the loss, logged as they are.
    features: backbone features of the first view, (N, D), fed (stop-gradient) to the online linear probe.
    """

    batch_stats: Any
    metrics: dict
    features: jax.Array


jax.tree_util.register_dataclass(LossAux, data_fields=["batch_stats", "metrics", "features"], meta_fields=[])


@dataclasses.dataclass(frozen=True)
class Method:
    """name: registry name. network: the online SSLNetwork (the target, if any, shares its structure).
    loss(params, batch_stats, target, views, step) -> (loss, LossAux), differentiated w.r.t. params only.
    target_decay(step, total_steps) -> tau for the EMA target, or None when the method has no target."""

    name: str
    network: nn.Module
    loss: Callable[..., tuple[jax.Array, LossAux]]
    target_decay: Callable[[jax.Array, int], jax.Array] | None = None

    @property
    def uses_target(self) -> bool:
        return self.target_decay is not None
