"""Learning-rate schedules."""

import math

import jax.numpy as jnp
import optax


def scaled_learning_rate(base_lr: float, global_batch: int, scaling: str) -> float:
    """The peak learning rate: "linear" gives base_lr * batch / 256 (Goyal et al. 2017, used by SimCLR and
    BYOL), "sqrt" gives base_lr * sqrt(batch) (SimCLR's small-batch LARS rule), "none" gives base_lr."""
    if scaling == "linear":
        return base_lr * global_batch / 256.0
    if scaling == "sqrt":
        return base_lr * global_batch**0.5
    if scaling == "none":
        return base_lr
    raise ValueError(f"unknown lr scaling {scaling!r}; choose from ['linear', 'sqrt', 'none']")


def warmup_cosine(peak_lr: float, total_steps: int, warmup_steps: int) -> optax.Schedule:
    """Linear warm-up from 0 to peak_lr over warmup_steps, then cosine decay to 0 at total_steps."""
    warmup_steps = max(min(warmup_steps, total_steps - 1), 0)
    if warmup_steps == 0:
        return optax.cosine_decay_schedule(peak_lr, decay_steps=max(total_steps, 1))
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0, peak_value=peak_lr, warmup_steps=warmup_steps, decay_steps=total_steps, end_value=0.0
    )


def fixmatch_cosine(peak_lr: float, total_steps: int) -> optax.Schedule:
    """FixMatch's decay (Sohn et al. 2020, section 4; USB and TorchSSL's too): peak_lr cos(7 pi k / (16 K)) at
    step k of K, from peak_lr down to cos(7 pi / 16) = 0.195 of it, no warm-up."""
    return lambda step: (
        peak_lr * jnp.cos(7 * math.pi * jnp.asarray(step, jnp.float32) / (16 * max(total_steps, 1)))
    )


SCHEDULES = ("warmup_cosine", "fixmatch_cosine", "constant")


def make_schedule(name: str, peak_lr: float, total_steps: int, warmup_steps: int) -> optax.Schedule:
    """The schedule `name` (config.optim.schedule, warmup_cosine when a config has none)."""
    if name == "warmup_cosine":
        return warmup_cosine(peak_lr, total_steps, warmup_steps)
    if name == "constant":  # MixMatch's fixed learning rate (Berthelot et al. 2019, section 4.1)
        if warmup_steps:
            raise ValueError(f"the constant schedule has no warm-up; got {warmup_steps} warm-up steps")
        return optax.constant_schedule(peak_lr)
    if name == "fixmatch_cosine":
        if warmup_steps:
            raise ValueError(f"the fixmatch_cosine schedule has no warm-up; got {warmup_steps} warm-up steps")
        return fixmatch_cosine(peak_lr, total_steps)
    raise ValueError(f"unknown lr schedule {name!r}; choose from {list(SCHEDULES)}")
