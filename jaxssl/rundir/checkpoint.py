"""Orbax checkpoints of the whole TrainState, with an identity record that guards the workdir.

Layout: DIR/checkpoints/<step>/{state, identity}. The identity (method, backbone, dataset, ...) is written
with every checkpoint; a run whose identity differs from the checkpoints already in DIR is refused before
anything is written. A checkpoint that cannot be read is reported, moved to DIR/checkpoints_unreadable/
(never deleted), and the previous one is used; on a pod, when any process cannot read it, process 0 sets it
aside and every process falls back to the same step. A readable checkpoint whose arrays do not fit this run's
state (other head sizes, another version's state layout) is refused, untouched. A save that cannot be written
(a full disk, a quota, a vanished mount) is one OSError naming the step's directory, its partial directory
removed.
"""

import dataclasses
import functools
import gc
import logging
import os
import shutil
import time

import jax
import numpy as np
import orbax.checkpoint as ocp
from etils import epath

from jaxssl import sharding
from jaxssl.rundir import files
from jaxssl.rundir.write_errors import orbax_errors_held, os_error_of


def checkpoint_dir(workdir: str) -> str:
    return os.path.join(os.path.abspath(workdir), files.CHECKPOINTS)


def saved_steps(workdir: str) -> list[int]:
    """The steps of DIR's finished checkpoints, by their directory names (none read), in order."""
    directory = checkpoint_dir(workdir)
    names = os.listdir(directory) if os.path.isdir(directory) else ()
    return sorted(int(name) for name in names if name.isdigit())


# Replica-parallel saving (each of R replicas of a replicated array writes 1/R of it) only where a replica's
# slice holds at least this many bytes: below it, slicing and writing R pieces costs more than one writer (a
# tiny DINO state on 8 CPU devices: 1.18 s for its first save with every array sliced, 0.22 s with none).
MIN_REPLICA_SLICE_BYTES = 1 << 20


def _handlers() -> ocp.handlers.CheckpointHandlerRegistry:
    """The state as a PyTree of jax and numpy arrays (the format StandardSave writes) with the replica-slice
    floor above, and the identity as JSON."""
    arrays = ocp.type_handlers.create_type_handler_registry(
        (np.ndarray, ocp.type_handlers.NumpyHandler()),
        (
            jax.Array,
            ocp.type_handlers.ArrayHandler(min_slice_bytes_for_replica_parallel=MIN_REPLICA_SLICE_BYTES),
        ),
    )
    state = ocp.PyTreeCheckpointHandler(type_handler_registry=arrays)
    identity = ocp.JsonCheckpointHandler()
    handlers = ocp.handlers.DefaultCheckpointHandlerRegistry()
    for item, args, handler in (
        ("state", ocp.args.PyTreeSave, state),
        ("state", ocp.args.PyTreeRestore, state),
        ("identity", ocp.args.JsonSave, identity),
        ("identity", ocp.args.JsonRestore, identity),
    ):
        handlers.add(item, args, handler)
    return handlers


class WorkdirConflictError(ValueError):
    """The workdir holds checkpoints of a different run (another method, backbone or dataset)."""


class IncompatibleCheckpointError(ValueError):
    """A readable checkpoint whose arrays do not fit this run's state; nothing was changed."""


def _key_name(key) -> str:
    for attribute in ("key", "name", "idx"):
        if hasattr(key, attribute):
            return str(getattr(key, attribute))
    return str(key)


def _path_names(path) -> tuple:
    return tuple(_key_name(k) for k in path)


def leaf_shapes(tree) -> dict:
    """{path of key names: shape} of every leaf; the same paths for a TrainState and its saved metadata."""
    return {_path_names(path): tuple(leaf.shape) for path, leaf in jax.tree_util.tree_leaves_with_path(tree)}


def padded_axis(path: tuple, saved: tuple | None, expected: tuple) -> int | None:
    """The axis along which `expected` is the `saved` shape with its rows padded to sharding.padded_rows (a
    memory saved before memories were padded), or None. Only the method's own state (TrainState.extra, where
    the memories live) is ever padded: a weight saved in another shape is an incompatible checkpoint."""
    if path[:1] != ("extra",) or saved is None or len(saved) != len(expected):
        return None
    differ = [axis for axis, (old, new) in enumerate(zip(saved, expected, strict=True)) if old != new]
    if len(differ) == 1 and expected[differ[0]] == sharding.padded_rows(saved[differ[0]]):
        return differ[0]
    return None


def _as_saved(abstract_state, saved_shapes: dict):
    """abstract_state with each memory saved unpadded in its saved shape, replicated, to be restored so."""

    def leaf_as_saved(path, leaf):
        names = _path_names(path)
        if padded_axis(names, saved_shapes.get(names), tuple(leaf.shape)) is None:
            return leaf
        saved = saved_shapes[names]
        return jax.ShapeDtypeStruct(saved, leaf.dtype, sharding=sharding.replicated(leaf.sharding.mesh))

    return jax.tree_util.tree_map_with_path(leaf_as_saved, abstract_state)


def _padded_like(restored, abstract_state):
    """Each restored leaf padded (sharding.pad_rows) to its abstract shape where it was saved unpadded, in its
    abstract sharding."""

    def pad(path, value, leaf):
        axis = padded_axis(_path_names(path), tuple(value.shape), tuple(leaf.shape))
        if axis is None:
            return value
        pad_rows = functools.partial(sharding.pad_rows, axis=axis, rows=leaf.shape[axis])
        return jax.jit(pad_rows, out_shardings=leaf.sharding)(value)

    return jax.tree_util.tree_map_with_path(pad, restored, abstract_state)


class Checkpointer:
    """Saves when asked, keeps the last `keep` (all when None), restores the newest readable checkpoint."""

    def __init__(self, workdir: str, *, keep: int | None, identity: dict):
        self.directory = checkpoint_dir(workdir)
        self.unreadable_dir = os.path.join(os.path.abspath(workdir), files.UNREADABLE_CHECKPOINTS)
        self.identity = identity
        options = ocp.CheckpointManagerOptions(
            max_to_keep=keep, create=True, enable_async_checkpointing=False
        )
        self.manager = ocp.CheckpointManager(self.directory, options=options, handler_registry=_handlers())

    def identity_differences(self) -> dict:
        """{field: (saved, this run's)} of each field where the identity of the newest readable checkpoint
        differs from this run's; {} when they agree or no checkpoint can be read."""
        for step in sorted(self.manager.all_steps(), reverse=True):
            try:
                found = self.manager.restore(step, args=ocp.args.Composite(identity=ocp.args.JsonRestore()))
            except Exception:  # an unreadable checkpoint is handled (and reported) by restore_latest
                continue
            found = dict(found["identity"])
            return {
                k: (found.get(k), self.identity.get(k))
                for k in sorted(set(found) | set(self.identity))
                if found.get(k) != self.identity.get(k)
            }
        return {}

    def check_identity(self) -> None:
        """Raises WorkdirConflictError when the newest checkpoint in the workdir belongs to another run."""
        differences = self.identity_differences()
        if differences:
            raise WorkdirConflictError(
                f"{os.path.dirname(self.directory)} holds checkpoints of another run "
                f"(field: (in workdir, requested) = {differences}); use a new --workdir. Nothing was written."
            )

    def _saved_tree(self, step: int):
        """The saved state's tree of array metadata, or None when the metadata cannot be read."""
        try:  # the item's own handler: a Checkpointer would look for a step's metadata file in the item
            return ocp.StandardCheckpointHandler().metadata(epath.Path(self.directory, str(step), "state"))
        except Exception:  # unreadable metadata: restore_latest reports the checkpoint and sets it aside
            return None

    def _check_fits(self, step: int, saved, abstract_state) -> None:
        """IncompatibleCheckpointError unless the saved arrays have exactly this state's paths and shapes, but
        for memories saved before their rows were padded."""
        saved_shapes, expected = leaf_shapes(saved), leaf_shapes(abstract_state)
        differences = sorted(
            "/".join(path) + f": saved {saved_shapes.get(path)}, expected {expected.get(path)}"
            for path in set(saved_shapes) | set(expected)
            if saved_shapes.get(path) != expected.get(path)
            and (path not in expected or padded_axis(path, saved_shapes.get(path), expected[path]) is None)
        )
        if not differences:
            return
        raise IncompatibleCheckpointError(
            f"the checkpoint at step {step} in {self.directory} does not fit this run's state ("
            f"{len(differences)} arrays differ, e.g. {differences[:3]}): other method hyperparameters or "
            "another jaxssl version wrote it. Use a new --workdir, or the config that wrote it "
            "(DIR/config.json). Nothing was changed."
        )

    def restore_latest(self, abstract_state):
        """The newest readable checkpoint restored onto abstract_state's shapes and shardings, or None.

        State fields without arrays (an empty `extra`) need not be in the checkpoint, and memories saved before
        their rows were padded are padded, so checkpoints written before a field was added or before memories
        split over the devices still restore."""
        for step in sorted(self.manager.all_steps(), reverse=True):
            saved = self._saved_tree(step)
            if saved is not None:
                self._check_fits(step, saved, abstract_state)
            as_saved = abstract_state if saved is None else _as_saved(abstract_state, leaf_shapes(saved))
            fields = {f.name: getattr(as_saved, f.name) for f in dataclasses.fields(as_saved)}
            stored = {name: value for name, value in fields.items() if saved is None or name in saved}
            restored, error = None, None
            try:
                restored = self.manager.restore(
                    step,
                    args=ocp.args.Composite(
                        state=ocp.args.PyTreeRestore(
                            stored, restore_args=ocp.checkpoint_utils.construct_restore_args(stored)
                        )
                    ),
                )
            except Exception as raised:  # orbax raises many types for truncated or corrupt files
                error = raised
            if not sharding.any_process(error is not None):  # on a pod: readable for every process
                return _padded_like(as_saved.replace(**restored["state"]), abstract_state)
            logging.warning(
                "checkpoint at step %d is unreadable (%s); moving it to %s and trying the previous one",
                step,
                f"{type(error).__name__}: {error}" if error else "on another process",
                self.unreadable_dir,
            )
            self._set_aside(step)
        return None

    def _set_aside(self, step: int) -> None:
        """Moves the checkpoint at `step` to DIR/checkpoints_unreadable/ (process 0 alone: the workdir is
        shared on a pod; the others wait for the move)."""
        if jax.process_index() == 0:
            os.makedirs(self.unreadable_dir, exist_ok=True)
            destination = os.path.join(self.unreadable_dir, f"{step}-{int(time.time())}")
            shutil.move(os.path.join(self.directory, str(step)), destination)
        sharding.every_process_reaches(f"set aside checkpoint {step}")
        self.manager.reload()

    def save(self, step: int, state, *, force: bool = False) -> bool:
        """Writes the state at `step` (a no-op when that step is already saved). A write that fails (a full
        disk, a quota, a vanished mount) raises one OSError naming the step's directory, whose partial
        directory is removed; any other error is raised as it is."""
        if step in self.manager.all_steps():
            return False
        try:
            with orbax_errors_held():
                return self.manager.save(
                    step,
                    args=ocp.args.Composite(
                        state=ocp.args.PyTreeSave(state), identity=ocp.args.JsonSave(self.identity)
                    ),
                    force=force,
                )
        except Exception as raised:
            failure = os_error_of(raised)
            if failure is None:
                raise
            self._remove_partial(step)
            reason = f"{failure.strerror or failure} (the partial checkpoint was removed)"
            raise OSError(failure.errno, reason, os.path.join(self.directory, str(step))) from raised

    def _remove_partial(self, step: int) -> None:
        """Removes what a failed save of `step` left: orbax's temporary directory of the step. Its unfinished
        writes are collected first, so that they end now rather than as warnings when the interpreter exits."""
        gc.collect()
        prefix = f"{step}{ocp.path.atomicity_types.TMP_DIR_SUFFIX}"
        for name in os.listdir(self.directory) if os.path.isdir(self.directory) else ():
            if name.startswith(prefix):
                shutil.rmtree(os.path.join(self.directory, name), ignore_errors=True)

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def restore_newest(workdir: str, *, identity: dict, abstract_state, hint: str = ""):
    """The newest readable checkpoint of DIR restored onto abstract_state's shapes and shardings, to be read
    (evaluated, exported, asked for pseudo-labels), never trained on: WorkdirConflictError when DIR's
    checkpoints belong to another run (`identity` differs), FileNotFoundError, with `hint`, when none can be
    read. A DIR without checkpoints is left as it was (no empty checkpoint directory is created in it)."""
    state = None
    if os.path.isdir(checkpoint_dir(workdir)):
        checkpointer = Checkpointer(workdir, keep=None, identity=identity)
        try:
            checkpointer.check_identity()
            state = checkpointer.restore_latest(abstract_state)
        finally:
            checkpointer.close()
    if state is None:
        raise FileNotFoundError(f"no readable checkpoint in {workdir}/{files.CHECKPOINTS}{hint}")
    return state
