"""One writer per run directory: DIR/lock, held with an OS file lock by the process that trains in DIR.

The lock is `flock` on DIR/lock, which the operating system releases when its holder exits, however it
exits (kill -9 included), so a lock can never outlive its process. The file's text names the holder (host,
pid, start time) for the message a second writer gets; a holder that exits cleanly empties it, so text left
in an unlocked file means its writer died, and the next run takes the directory over with a warning naming
it. Offline evaluation takes no lock (it only reads checkpoints); its records are appended under a lock on
the record file (jaxssl/rundir/jsonl.py). flock works on local disks and on NFSv4; on Lustre the filesystem
must be mounted with `-o flock`.
"""

import contextlib
import datetime
import fcntl
import logging
import os
import socket

from jaxssl.rundir import files


class WorkdirBusyError(RuntimeError):
    """Another live process is training in this run directory."""


def holder_text() -> str:
    started = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    return f"host {socket.gethostname()} pid {os.getpid()} since {started}"


@contextlib.contextmanager
def hold(workdir: str):
    """Holds DIR/lock for the body; WorkdirBusyError at once when a live process holds it."""
    os.makedirs(workdir, exist_ok=True)
    path = os.path.join(workdir, files.LOCK)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            raise WorkdirBusyError(
                f"{workdir} is in use by another run ({f.read().strip() or 'holder unknown'}): one run "
                "directory has one writer. Wait for it, stop it, or use another --workdir "
                "(offline evaluation of a running directory is allowed)"
            ) from None
        f.seek(0)
        previous = f.read().strip()
        if previous:
            logging.warning(
                "taking over %s from a run that died without releasing it (%s)", workdir, previous
            )
        f.seek(0)
        f.truncate()
        f.write(holder_text() + "\n")
        f.flush()
        try:
            yield
        finally:
            f.seek(0)
            f.truncate()
            f.flush()
            fcntl.flock(f, fcntl.LOCK_UN)
