"""Learning-rate schedules."""

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
