"""jaxssl: self-supervised visual representation learning in JAX/Flax."""

from jaxssl import xla_cpu

xla_cpu.apply_defaults()
