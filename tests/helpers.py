"""Helpers shared by test modules (not collected: no test_ prefix)."""

import os
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cli(args, **kwargs):
    env = dict(os.environ, JAX_NUM_CPU_DEVICES="8", JAX_PLATFORMS="cpu")
    cache = os.path.join(REPO, ".jax_cache")
    return [sys.executable, "-m", "jaxssl.main", f"--compilation_cache={cache}", *args], dict(
        cwd=REPO, env=env, **kwargs
    )
