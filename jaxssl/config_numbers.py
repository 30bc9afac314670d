"""The numbers of a config: every one finite, in Python and in the dtypes the step computes in, and the rates,
temperatures and momenta in their ranges (a NaN learning rate is a config error, not a NaN state found steps
later). validate.check_config runs check_numbers first, in the step's dtypes."""

import math

import jax.numpy as jnp
import numpy as np


def numbers_of(block, prefix: str = "config"):
    """(dotted name, number) of every float or int in a config, lists and tuples included (bools excluded)."""
    for key, value in block.items():
        name = f"{prefix}.{key}"
        if hasattr(value, "items"):
            yield from numbers_of(value, name)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                if isinstance(item, (int, float)) and not isinstance(item, bool):
                    yield f"{name}[{index}]", item
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            yield name, value


def number_range(name: str):
    """(low, high, text) that a setting's last name part must lie in, or None when its name sets no range.
    Learning rates and temperatures are positive; weight decay is not negative; momenta (EMA rates included:
    tau, BYOL's and DINO's momentum, a centre's momentum) and Adam's betas lie in [0, 1]."""
    leaf = name.rsplit(".", 1)[-1].split("[")[0]
    if leaf.endswith("_epochs") or leaf.endswith("_steps"):
        return None
    if leaf.endswith("lr") or "temp" in leaf:
        return 0.0, math.inf, "positive"
    if leaf == "weight_decay":
        return 0.0, math.inf, "at least 0"
    if "momentum" in leaf or "tau" in leaf or leaf in ("b1", "b2"):
        return 0.0, 1.0, "in [0, 1]"
    return None


def in_dtype(value: float, dtype) -> float:
    """`value` as `dtype` holds it: inf beyond its largest number, 0 below its smallest."""
    with np.errstate(over="ignore", under="ignore"):
        return float(np.asarray(value, np.float64).astype(dtype))


def check_numbers(config, dtypes: tuple) -> None:
    """ValueError naming the first setting that is NaN or infinite, in Python or in one of `dtypes`, those the
    step computes in (1e40 is finite in a config and infinite in float32), or outside its range
    (number_range)."""
    for name, value in numbers_of(config):
        if not math.isfinite(value):
            raise ValueError(f"{name} is {value}: every number in a config must be finite")
        held = {dtype: in_dtype(value, dtype) for dtype in dtypes} if isinstance(value, float) else {}
        for dtype, as_held in held.items():
            if not math.isfinite(as_held):
                raise ValueError(
                    f"{name} is {value}, beyond {dtype.name}'s largest number {float(jnp.finfo(dtype).max):.4g}: "
                    "every number in a config must be finite in the dtypes the step computes in "
                    f"({', '.join(dtype.name for dtype in held)})"
                )
        bounds = number_range(name)
        if bounds is None:
            continue
        low, high, text = bounds
        for dtype, number in {None: value, **held}.items():
            below = number <= low if text == "positive" else number < low
            if below or number > high:
                held_as = f" ({number:g} in {dtype.name})" if dtype else ""
                raise ValueError(f"{name} must be {text}, got {value}{held_as}")
