"""Orbax checkpoints of the whole TrainState, with an identity record that guards the workdir.

Layout: DIR/checkpoints/<step>/{state, identity}. The identity (method, backbone, dataset, ...) is written
with every checkpoint; a run whose identity differs from the checkpoints already in DIR is refused before
anything is written. A checkpoint that cannot be read is reported, moved to DIR/checkpoints_unreadable/
(never deleted), and the previous one is used.
"""

import logging
import os
import shutil
import time

import orbax.checkpoint as ocp


def checkpoint_dir(workdir: str) -> str:
    return os.path.join(os.path.abspath(workdir), "checkpoints")


class WorkdirConflictError(ValueError):
    """The workdir holds checkpoints of a different run (another method, backbone or dataset)."""


class Checkpointer:
    """Saves when asked, keeps the last `keep` (all when None), restores the newest readable checkpoint."""

    def __init__(self, workdir: str, *, keep: int | None, identity: dict):
        self.directory = checkpoint_dir(workdir)
        self.unreadable_dir = os.path.join(os.path.abspath(workdir), "checkpoints_unreadable")
        self.identity = identity
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=False
        )
        self.manager = ocp.CheckpointManager(
            self.directory, options=options, item_names=("state", "identity")
        )

    def check_identity(self) -> None:
        """Raises WorkdirConflictError when the newest checkpoint in the workdir belongs to another run."""
        for step in sorted(self.manager.all_steps(), reverse=True):
            try:
                found = self.manager.restore(step, args=ocp.args.Composite(identity=ocp.args.JsonRestore()))
            except Exception:  # an unreadable checkpoint is handled (and reported) by restore_latest
                continue
            found = dict(found["identity"])
            if found != self.identity:
                differences = {
                    k: (found.get(k), self.identity.get(k))
                    for k in sorted(set(found) | set(self.identity))
                    if found.get(k) != self.identity.get(k)
                }
                raise WorkdirConflictError(
                    f"{os.path.dirname(self.directory)} holds checkpoints of another run "
                    f"(field: (in workdir, requested) = {differences}); use a new --workdir. Nothing was written."
                )
            return

    def restore_latest(self, abstract_state):
        """The newest readable checkpoint restored onto abstract_state's shapes and shardings, or None."""
        for step in sorted(self.manager.all_steps(), reverse=True):
            try:
                restored = self.manager.restore(
                    step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state))
                )
                return restored["state"]
            except Exception as error:  # orbax raises many types for truncated or corrupt files
                logging.warning(
                    "checkpoint at step %d is unreadable (%s: %s); moving it to %s and trying the "
                    "previous one",
                    step,
                    type(error).__name__,
                    error,
                    self.unreadable_dir,
                )
                self._set_aside(step)
        return None

    def _set_aside(self, step: int) -> None:
        os.makedirs(self.unreadable_dir, exist_ok=True)
        destination = os.path.join(self.unreadable_dir, f"{step}-{int(time.time())}")
        shutil.move(os.path.join(self.directory, str(step)), destination)
        self.manager.reload()

    def save(self, step: int, state, *, force: bool = False) -> bool:
        """Writes the state at `step` (a no-op when that step is already saved)."""
        if step in self.manager.all_steps():
            return False
        return self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), identity=ocp.args.JsonSave(self.identity)
            ),
            force=force,
        )

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
