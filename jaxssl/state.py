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
