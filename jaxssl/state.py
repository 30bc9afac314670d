"""The whole training state as pure data."""

from typing import Any

import flax
import jax


@flax.struct.dataclass
class TrainState:
    """Everything a step reads and writes; saved whole in each checkpoint.

    params: {"model": online network params, "probe": online linear probe params}.
    batch_stats: the online network's BatchNorm statistics.
    target: {"params", "batch_stats"} of the EMA target network, or {} for methods without one.
    extra: the method's own state (MoCo's queue, InstDisc's memory bank, DINO's centre...), or {}.
    crop: the crop policy's state (ContrastiveCrop's boxes, augment/crops.py), or {} for RandomResizedCrop.
    """

    step: jax.Array
    params: Any
    batch_stats: Any
    target: Any
    opt_state: Any
    extra: Any
    crop: Any


def evaluated_weights(state: TrainState, eval_weights: str) -> tuple[Any, Any]:
    """(params, batch_stats) of the network that evaluation reads: the online network's, or the EMA target's
    for a method whose paper evaluates the weights' average (Method.eval_weights == "target")."""
    if eval_weights == "target":
        return state.target["params"], state.target["batch_stats"]
    return state.params["model"], state.batch_stats
