"""The command's refusals in one line: a flag, config option or override that cannot be honoured, a config
file that does not exist, a run directory that another run holds, a starting point that does not fit, each as
`error: <what was given, what is allowed>` on stderr with exit status 1 and no traceback (JAXSSL_TRACEBACK=1
shows it); and absl's flag parsing, made to refuse that way too."""

import contextlib
import functools
import os
import re
import sys

from absl import app, flags

from jaxssl.rundir import lock

TRACEBACK = "JAXSSL_TRACEBACK"  # =1: a refusal shows its traceback instead of one line
# The errors that refuse a command: an input that cannot be honoured (a flag, a config value, absl's usage
# errors), a file or directory that cannot be used, a directory another run holds, a loss that became NaN.
REFUSALS = (ValueError, OSError, app.UsageError, flags.Error, lock.WorkdirBusyError, FloatingPointError)


def one_line(text: str) -> str:
    """`text` with its line breaks folded into spaces."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def innermost(error: BaseException) -> BaseException:
    """The error that `error` was raised from or while handling, down the chain."""
    while True:
        inner = error.__cause__ or (None if error.__suppress_context__ else error.__context__)
        if inner is None:
            return error
        error = inner


def override_type_message(text: str, config) -> str | None:
    """'--config.KEY=VALUE: ...' of an override whose value does not convert, as the type that `config`'s KEY
    takes; None when `text` is not one or KEY is not in `config`."""
    match = re.match(r"--config\.([\w.]+)=(.*?): ", text)
    if match is None:
        return None
    key, value = match.groups()
    node = config
    for part in key.split("."):
        if not hasattr(node, "keys") or part not in node:
            return None
        node = node[part]
    return f"--config.{key}={value}: config.{key} takes a {type(node).__name__}, got {value!r}"


def refusal_message(error: BaseException, flag_values: flags.FlagValues = flags.FLAGS) -> str:
    """What a refusal says, in one line: for a flag error, the config file's own error about the options
    after the colon (config_flags wraps it in two errors holding its traceback), or an override's value of the
    wrong type with the type its key takes (in flag_values' --config); else the error's message."""
    if isinstance(error, flags.Error):
        text = str(error).removeprefix("flag ")
        if text.startswith("--config="):
            return one_line(str(innermost(error)))
        return one_line(override_type_message(text, flag_values["config"].value) or text)
    return one_line(str(error))


@contextlib.contextmanager
def refusals_in_one_line():
    """A REFUSALS error raised in the body exits with `error: <refusal_message>` on stderr and status 1, no
    traceback; JAXSSL_TRACEBACK=1 lets it through with its traceback."""
    try:
        yield
    except REFUSALS as error:
        if os.environ.get(TRACEBACK) == "1":
            raise
        raise SystemExit(f"error: {refusal_message(error)}") from None


def one_line_refusals(fn):
    """`fn` with refusals_in_one_line around it (main and parse_flags, so that absl prints no usage text)."""

    @functools.wraps(fn)
    def refusing(*args):
        with refusals_in_one_line():
            return fn(*args)

    return refusing


def config_file(argv: list[str]) -> str | None:
    """The file part of --config=FILE:OPTIONS; None without --config."""
    for index, arg in enumerate(argv):
        if arg.startswith("--config="):
            return arg.removeprefix("--config=").partition(":")[0]
        if arg == "--config" and index + 1 < len(argv):
            return argv[index + 1].partition(":")[0]
    return None


def config_package_root(argv: list[str]) -> str | None:
    """The folder holding the --config file's package (the repository root for configs/simclr.py), so that
    the config's `from configs import common` resolves from any working directory; None without --config."""
    path = config_file(argv)
    return None if path is None else os.path.dirname(os.path.dirname(os.path.abspath(path)))


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with an override of a key the config does not have (--config.train.bacth_size=8)
    reported in one line with ml_collections' suggestion rather than as three chained tracebacks, and a
    --config file that does not exist refused (config_flags would defer its error to the config's first use).
    The config file's package root goes first on sys.path (config_package_root)."""
    path = config_file(argv)
    if path is not None and not os.path.isfile(path):
        raise app.UsageError(
            f"--config={path}: no such file; a config is configs/<method>.py (configs/simclr.py, ...), "
            "options after a colon"
        )
    root = config_package_root(argv)
    if root is not None and root not in sys.path:
        sys.path.insert(0, root)
    try:
        return flags.FLAGS(argv)
    except (AttributeError, KeyError) as error:
        message = str(error).strip("'\"").replace("\\'", "'").replace("\\n", " ")
        overrides = [arg for arg in argv[1:] if arg.startswith("--config.")]
        raise app.UsageError(f"no such config key in {' '.join(overrides)}: {message}") from error
