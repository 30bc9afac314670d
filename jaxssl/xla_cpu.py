"""XLA's CPU backend options that jaxssl makes the default, set in XLA_FLAGS when jaxssl is imported.

jaxlib 0.10's CPU backend hands convolutions to YNNPACK ("__ynn_fusion" thunks). On a ResNet's training
step that is the slow choice: the forward and backward of ResNet-10 x0.25 on 256 Fashion-MNIST images took
367 ms with it and 292 ms with XLA's own convolutions (x1.26), ResNet-10 x1.0 5.0 s against 2.8 s (x1.77),
and at batch 512 832 ms against 614 ms (README, "Side by side with PyTorch, and where a CPU step's time
goes"). DEFAULT_FLAGS turn YNNPACK's convolutions off and leave its other fusions (dots, reductions) as they
are. They name only `xla_cpu_*` options, so an accelerator's compiles are unchanged.

An XLA_FLAGS that already sets one of these options wins, and JAXSSL_XLA_CPU_DEFAULTS=0 leaves XLA_FLAGS
untouched. XLA reads XLA_FLAGS once, when JAX starts its backend: import jaxssl before the first JAX
computation of the process (every entry point of jaxssl does).
"""

import os

DEFAULT_FLAGS = {"xla_cpu_experimental_ynn_fusion_type": "-individual_convolution"}


def flags_with_defaults(xla_flags: str) -> str:
    """`xla_flags` with each default option appended unless it already sets that option."""
    given = {item.lstrip("-").partition("=")[0] for item in xla_flags.split()}
    added = [f"--{name}={value}" for name, value in DEFAULT_FLAGS.items() if name not in given]
    return " ".join([xla_flags.strip(), *added]).strip()


def apply_defaults() -> None:
    """Sets XLA_FLAGS to `flags_with_defaults` of its value, unless JAXSSL_XLA_CPU_DEFAULTS is "0"."""
    if os.environ.get("JAXSSL_XLA_CPU_DEFAULTS", "1") == "0":
        return
    os.environ["XLA_FLAGS"] = flags_with_defaults(os.environ.get("XLA_FLAGS", ""))
