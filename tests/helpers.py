"""Helpers shared by test modules (not collected: no test_ prefix)."""

import os
import sys

from jaxssl import experiment, sharding

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(args, **kwargs):
    env = dict(os.environ, JAX_NUM_CPU_DEVICES="8", JAX_PLATFORMS="cpu")
    cache = os.path.join(REPO, ".jax_cache")
    return [sys.executable, "-m", "jaxssl.main", f"--compilation_cache={cache}", *args], dict(
        cwd=REPO, env=env, **kwargs
    )


def executables_of_a_run(exp, num_steps: int) -> int:
    """How many executables the run's compiled step needed for `num_steps` steps from a fresh state: 1 unless
    a call retraced (new shapes, dtypes, weak types) or recompiled (output shardings that differ from the
    input's). jit's cache count is private API, and the only direct view of recompiles."""
    layout = experiment.state_layout(exp)
    train_step = experiment.compile_train_step(exp, layout)
    state = experiment.create_state(exp, layout)
    for batch in experiment.train_batches(exp, start_step=0, num_steps=num_steps):
        state, _ = train_step(state, sharding.to_global(batch, exp.mesh))
    assert int(state.step) == num_steps
    return train_step._cache_size()
