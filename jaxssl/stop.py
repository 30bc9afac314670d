"""Stopping a training loop on a signal: SIGTERM (a preemption, a scheduler's time limit) and SIGINT
(Ctrl-C) are noted by StopRequest, and the loop saves its current step before it stops. Pretraining
(train.py) and the supervised evaluation protocols (evaluation/resumable.py) stop this way, their host kept
within StepsInFlight's bound of the computation so that the save waits for a step or two, not for a queue.
"""

import collections
import signal


class StepsInFlight:
    """Bounds the steps dispatched but not yet computed: beyond `limit`, the host waits for the oldest one's
    loss. JAX dispatches asynchronously, so without a bound the host runs ahead as fast as batches arrive:
    a progress bar's rate describes dispatch, not computation, input batches queue in device memory, and a
    checkpoint asked for after a signal waits until every queued step is computed (minutes of a slow step,
    past a scheduler's grace period)."""

    def __init__(self, limit: int = 2):
        self.limit = limit
        self.losses = collections.deque()

    def add(self, loss) -> None:
        self.losses.append(loss)
        while len(self.losses) > self.limit:
            self.losses.popleft().block_until_ready()


class StopRequest:
    """Set by SIGTERM or SIGINT (Ctrl-C): the loop saves a checkpoint at the current step and returns. Exit
    status: 0 after SIGTERM (a preemption, a scheduler's time limit: the job ended cleanly and its rerun
    resumes), 130 after SIGINT (128 + SIGINT, the shell's status of an interrupted command, so that a script
    stops instead of going on to its next command); the loop raises Interrupted for the latter. A second Ctrl-C
    ends the process at once, by the signal's default action, without saving: the rerun resumes from the last
    checkpoint. A SIGINT that the process was started ignoring (a background job of a script) stays
    ignored."""

    def __init__(self):
        self.received = None
        self._previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, self._handle)}
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            self._previous[signal.SIGINT] = signal.signal(signal.SIGINT, self._handle)

    @property
    def requested(self) -> bool:
        return self.received is not None

    def _handle(self, signum, frame):
        del frame
        self.received = signal.Signals(signum)
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.SIG_DFL)  # the next Ctrl-C ends the process at once

    def restore(self):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C stopped a loop after it saved its current step (the command exits 130)."""


class Preempted(Exception):
    """SIGTERM stopped an evaluation protocol's training after it saved its current step: no record is
    written, and the same command resumes it (the command exits 0, as a preempted pretraining does)."""
