"""Stopping before a non-finite state is written: the loss of every step and the whole state before a save."""

import math

import jax
import jax.numpy as jnp


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; the state of that step was not saved."""


class NonFiniteStateError(FloatingPointError):
    """An update left NaN or infinite values in the state (its loss, computed before the update, was finite);
    that state was not saved."""


def latest_good(last_saved: int | None) -> str:
    """The checkpoint a rerun resumes, in words (every saved state was checked finite before its write)."""
    return f"step {last_saved}" if last_saved else "none: a rerun starts afresh"


def check_finite(step_metrics: list[tuple[int, dict]], last_saved: int | None) -> None:
    for step, values in step_metrics:
        if not math.isfinite(values["loss"]):
            raise NonFiniteLossError(
                f"loss is {values['loss']} at step {step}; stopping without saving that state "
                f"(latest checkpoint: {latest_good(last_saved)})"
            )


def all_finite(tree) -> jax.Array:
    """Whether every floating-point value in `tree` is finite (integer and key leaves are skipped)."""
    floats = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in floats])) if floats else jnp.array(True)


@jax.jit
def finite_by_field(state) -> dict:
    """{field of the TrainState: all_finite(field)}, computed on the devices."""
    return {
        name: all_finite(getattr(state, name))
        for name in ("params", "batch_stats", "target", "opt_state", "extra", "crop")
    }


def check_state_finite(state, step: int, last_saved: int | None) -> None:
    """NonFiniteStateError, before anything is written, when the state after `step` is not finite everywhere."""
    bad = sorted(name for name, finite in jax.device_get(finite_by_field(state)).items() if not finite)
    if bad:
        raise NonFiniteStateError(
            f"the update of step {step} left NaN or infinite values in {bad} (its loss was still finite); that "
            "state was not saved. The latest checkpoint, checked finite when it was saved: "
            f"{latest_good(last_saved)}. Lower the learning rate (config.optim.base_lr) or raise the warm-up, "
            "then rerun to resume from it"
        )
