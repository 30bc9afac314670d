"""A write into a run directory that fails (a full disk, a quota, a vanished mount) stops the run with one
line: what could not be written, at which step, why, and the checkpoint the same command resumes from.

Orbax reports a failed save once per writing thread, each with tracebacks, and raises tensorstore's error,
which carries the operating system's errno in its message; `os_error_of` finds that error and
`orbax_errors_held` keeps the threads' lines out of the log when the failure is reported in one line.
"""

import contextlib
import logging
import os
import re

from jaxssl.rundir import files

# tensorstore, which writes orbax's arrays, reports the operating system's error inside its message.
_OS_ERROR_CODE = re.compile(r"os_error_code='?(\d+)")


def os_error_of(error: BaseException | None) -> OSError | None:
    """The operating system's error behind `error`: an OSError in its chain of causes, or one made from the
    errno that tensorstore writes into its messages; None when there is none."""
    while error is not None:
        if isinstance(error, OSError):
            return error
        code = _OS_ERROR_CODE.search(str(error))
        if code:
            return OSError(int(code.group(1)), os.strerror(int(code.group(1))))
        error = error.__cause__ or error.__context__
    return None


class _HeldOrbaxErrors(logging.Filter):
    """Keeps orbax's ERROR records out of the log, in `records`."""

    def __init__(self):
        super().__init__()
        self.records = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.ERROR and "/orbax/" in record.pathname:
            self.records.append(record)
            return False
        return True


@contextlib.contextmanager
def orbax_errors_held():
    """Within the block, orbax's error lines are held back; they are logged after it unless it raises an
    error that os_error_of recognises, which the caller reports once."""
    held, logger = _HeldOrbaxErrors(), logging.getLogger("absl")  # orbax logs through absl's logger
    logger.addFilter(held)
    failure = None
    try:
        yield
    except Exception as raised:
        failure = os_error_of(raised)
        raise
    finally:
        logger.removeFilter(held)
        if failure is None:
            for record in held.records:
                logger.handle(record)


class WriteFailedError(Exception):
    """A write into the run directory failed (a full disk, a quota, a vanished mount): the run stopped."""


def write_failure_message(path: str, step: int, reason: str, saved_step: int | None, checkpoints: str) -> str:
    """One line: what could not be written, at which step, why, and where the same command resumes."""
    resume = "step 0 (no checkpoint was saved)"
    if saved_step:
        resume = f"the checkpoint at step {saved_step} ({os.path.join(checkpoints, str(saved_step))})"
    return (
        f"could not write {path} at step {step}: {reason}. The run stopped; the same command resumes from "
        f"{resume} once the write can succeed"
    )


@contextlib.contextmanager
def writing(workdir: str, name: str, step: int, saved_step: int | None):
    """The block's writes into DIR/`name` at `step`, the newest checkpoint being `saved_step` (None for none):
    an OSError becomes a WriteFailedError (write_failure_message) naming the file the error names, or
    DIR/`name`."""
    try:
        yield
    except OSError as error:
        path, reason = error.filename or os.path.join(workdir, name), error.strerror or str(error)
        checkpoints = os.path.join(os.path.abspath(workdir), files.CHECKPOINTS)
        raise WriteFailedError(write_failure_message(path, step, reason, saved_step, checkpoints)) from error
