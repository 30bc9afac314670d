"""jaxssl's default XLA CPU options (jaxssl/xla_cpu.py): added to XLA_FLAGS unless already set, and in effect."""

import jax
import jax.numpy as jnp

from jaxssl import xla_cpu


def test_defaults_are_appended_to_the_given_flags():
    assert xla_cpu.flags_with_defaults("") == "--xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
    assert xla_cpu.flags_with_defaults(" --xla_backend_optimization_level=0 ") == (
        "--xla_backend_optimization_level=0 --xla_cpu_experimental_ynn_fusion_type=-individual_convolution"
    )


def test_an_option_the_user_set_wins():
    given = "--xla_cpu_experimental_ynn_fusion_type=dot --xla_dump_to=/tmp/x"
    assert xla_cpu.flags_with_defaults(given) == given


def test_the_default_is_in_effect_convolutions_are_not_handed_to_ynnpack():
    """The suite imports jaxssl before its first computation, as every entry point does: a convolution then
    compiles to XLA's own (with YNNPACK's convolutions on, this one is a "__ynn_fusion")."""
    images, kernel = jnp.ones((16, 14, 14, 32)), jnp.ones((3, 3, 32, 32))
    conv = jax.jit(
        lambda x, w: jax.lax.conv_general_dilated(
            x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
    )
    compiled = conv.lower(images, kernel).compile().as_text()
    assert "convolution(" in compiled
    assert "__ynn_fusion" not in compiled
