"""The supervised protocols' training (linear_sgd, finetune) made resumable, as pretraining is.

Their ClassifierState (probes/finetune.py) is saved to DIR/protocols_in_progress/<protocol>-labels<fraction>-
<init>/checkpoints/<step>/ every config.checkpoint.every_steps steps, at the last step, and when SIGTERM or
Ctrl-C stops the training; the command then writes no record and exits 0 after SIGTERM (stop.Preempted), 130
after Ctrl-C (stop.Interrupted). The same command resumes from the saved step, and the batches and keys being
indexed by the step, writes the record an uninterrupted run writes. The directory is removed once the record
is appended to offline_eval.jsonl. Its identity (the protocol, the recipe, the record's header: the evaluated
checkpoint's step, the label fraction and seed, the run's seed) guards it: a saved training of another recipe
or of another checkpoint is refused, neither resumed nor replaced.
"""

import contextlib
import json
import logging
import os
import shutil
import signal

import jax

from jaxssl import sharding, stop
from jaxssl.rundir import checkpoint, files


def progress_dir(workdir: str, protocol: str, header: dict) -> str:
    """DIR/protocols_in_progress/<protocol>-labels<fraction>-<init> of a protocol's record `header`."""
    name = f"{protocol}-labels{header['label_fraction']:g}-{header['init'] or header['features']}"
    return os.path.join(workdir, files.PROTOCOLS_IN_PROGRESS, name)


class ProtocolProgress:
    """train_classifier's `progress`: restores the saved state, saves every `every_steps` steps and at step
    `num_steps`, and stops the training (saved) on SIGTERM or Ctrl-C (stop.StopRequest, agreed between
    processes at the save steps)."""

    def __init__(self, directory: str, identity: dict, *, every_steps: int, num_steps: int):
        self.directory = directory
        self.identity = json.loads(json.dumps(identity))  # as it reads back from the saved JSON
        self.every_steps = every_steps
        self.num_steps = num_steps
        self.checkpointer = None
        self.request = stop.StopRequest()

    def _opened(self) -> checkpoint.Checkpointer:
        if self.checkpointer is None:
            self.checkpointer = checkpoint.Checkpointer(self.directory, keep=1, identity=self.identity)
        return self.checkpointer

    def restore(self, abstract_state):
        """The saved state to resume from, or None (nothing saved). ValueError, before anything is trained,
        when the saved training is of another recipe or another checkpoint."""
        if not checkpoint.saved_steps(self.directory):
            return None
        differences = self._opened().identity_differences()
        if differences:
            raise ValueError(
                f"{self.directory} holds an unfinished training of another request (field: (saved, "
                f"requested) = {differences}): rerun it as it was asked to finish it, or remove that directory"
            )
        state = self.checkpointer.restore_latest(abstract_state)
        if state is not None:
            logging.info("resuming %s from step %d", self.directory, int(state.step))
        return state

    def after_step(self, done: int, state) -> None:
        """Saves the state after step `done` when it is due; after a stop request, saves it and raises
        stop.Preempted (SIGTERM) or stop.Interrupted (Ctrl-C)."""
        due = done % self.every_steps == 0 or done == self.num_steps
        agree_now = jax.process_count() == 1 or due
        stopping = agree_now and sharding.any_process(self.request.requested)
        if due or stopping:
            self._opened().save(done, state, force=True)
        if stopping:
            interrupted = sharding.any_process(self.request.received == signal.SIGINT)
            message = (
                f"{'SIGINT' if interrupted else 'SIGTERM'}: saved the protocol's training at step {done} of "
                f"{self.num_steps} in {self.directory} and stopped; no record was written, the same command "
                "resumes it"
            )
            logging.warning(message)
            raise (stop.Interrupted if interrupted else stop.Preempted)(message)

    def close(self) -> None:
        self.request.restore()
        if self.checkpointer is not None:
            self.checkpointer.close()


@contextlib.contextmanager
def protocol_progress(directory: str, identity: dict, *, every_steps: int, num_steps: int):
    """A ProtocolProgress for the body: its signal handlers are in place until the body ends."""
    progress = ProtocolProgress(directory, identity, every_steps=every_steps, num_steps=num_steps)
    try:
        yield progress
    finally:
        progress.close()


def remove_finished(directories) -> None:
    """Removes the progress directories of protocols whose records are appended (process 0: the run
    directory is shared on a pod), and DIR/protocols_in_progress once it is empty."""
    if jax.process_index() != 0:
        return
    for directory in directories:
        shutil.rmtree(directory, ignore_errors=True)
        with contextlib.suppress(OSError):  # not empty: another protocol's training waits there
            os.rmdir(os.path.dirname(directory))
