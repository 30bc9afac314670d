"""TensorFlow for the host side (tf.data input, TensorBoard event files), imported without Keras, off GPUs,
and without its C++ start-up log lines.

`import tensorflow` (2.21) also imports Keras at once ("keras.src.optimizers", so that Keras's SavedModel
registrations happen at load time), and Keras pulls in scikit-learn, matplotlib's pyplot and IPython: with
them `import jaxssl.main` took 7.3 s on a 2-core CPU, 5.6 s without (scikit-learn now imported for t-SNE
only), for nothing jaxssl uses. TF wraps that import in `except ImportError`, so while TensorFlow is
imported here `keras` is marked absent in `sys.modules`; the mark is removed afterwards, and `import keras` or
`tf.keras` later in the process load Keras as usual. A process that imported TensorFlow or Keras before
jaxssl keeps them as they are.

TF_CPP_MIN_LOG_LEVEL defaults to 1 (TensorFlow's C++ code logs warnings and errors, not information); a value
already in the environment is kept. TensorFlow 2.21 logs its start-up lines ("oneDNN custom operations are
on", preceded by absl's "WARNING: All log messages before absl::InitializeLog() ...") through absl before it
reads that variable, so they ignore it: while TensorFlow is imported here, file descriptor 2 goes to a
temporary file, and what was written there is passed on to stderr afterwards without the absl log lines
below the level (and without absl's preamble when the level hides anything).

TensorFlow is kept off the accelerators so that it never takes their memory from JAX.
"""

import contextlib
import os
import re
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")

ABSL_PREAMBLE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"
ABSL_SEVERITIES = "IWEF"  # absl's INFO, WARNING, ERROR, FATAL: TF_CPP_MIN_LOG_LEVEL 0..3
_ABSL_LINE = re.compile(r"([IWEF])\d{4} ")


def min_log_level() -> int:
    """TF_CPP_MIN_LOG_LEVEL as TensorFlow reads it (0 when it is not a number)."""
    value = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0")
    return int(value) if value.isdigit() else 0


def below_level_removed(text: str, level: int) -> str:
    """`text` without its absl log lines of a severity below `level` (with the tab-indented lines that continue
    such a record), and without absl's preamble line when `level` hides any severity."""
    hidden = ABSL_SEVERITIES[:level]
    kept, hiding = [], False
    for line in text.splitlines(keepends=True):
        record = _ABSL_LINE.match(line)
        if record or not line.startswith("\t"):
            hiding = bool(record) and record.group(1) in hidden
        if hiding or (hidden and line.startswith(ABSL_PREAMBLE)):
            continue
        kept.append(line)
    return "".join(kept)


@contextlib.contextmanager
def stderr_below_level_removed(level: int):
    """Within the block, file descriptor 2 (C++ code's stderr too) is held back; on exit it is written out
    through `below_level_removed`."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            with open(2, "w", closefd=False, errors="replace") as stderr:
                stderr.write(below_level_removed(held.read().decode(errors="replace"), level))


def import_tensorflow_without_keras():
    """The `tensorflow` module, imported with Keras's eager import skipped and its start-up log lines below
    TF_CPP_MIN_LOG_LEVEL removed, unless TensorFlow or Keras is imported already."""
    if "tensorflow" in sys.modules or "keras" in sys.modules:
        import tensorflow

        return tensorflow
    sys.modules["keras"] = None
    try:
        with stderr_below_level_removed(min_log_level()):
            import tensorflow
    finally:
        del sys.modules["keras"]
    return tensorflow


tf = import_tensorflow_without_keras()
tf.config.set_visible_devices([], "GPU")
