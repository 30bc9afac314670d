"""Noisy Student's pseudo-labels (Xie et al. 2020, algorithm 1, step 2): a finished run's network, not
noised (evaluation mode, the centre view), predicts a class distribution for every training example; the
confident ones, balanced over the classes (subsets.confident_balanced_rows), become the rows a student
trains on beside the labelled ones.

The teacher's predictions are computed once, when the student starts, and kept in the student's run
directory (DIR/pseudo_labels.npz, float16, with the teacher's directory and step), so a resumed student reads
the same targets even if the teacher trained on since; the teacher's directory is only read.
"""

import dataclasses
import logging
import os

import jax
import ml_collections
import numpy as np

from jaxssl import batch_streams, sharding
from jaxssl import experiment as experiment_lib
from jaxssl import step as step_lib
from jaxssl.data.parts import Part
from jaxssl.data.subsets import confident_balanced_rows
from jaxssl.models.network import has_classifier
from jaxssl.probes import embed
from jaxssl.rundir import checkpoint, files
from jaxssl.state import evaluated_weights

TEACHER_HINT = ": train the teacher first (launch/noisy_student.py runs the rounds in order)"


def teacher_config(teacher_dir: str) -> ml_collections.ConfigDict:
    """The config a teacher run saved (DIR/config.json): a clear error when DIR holds no run."""
    return files.run_config(teacher_dir, "config.teacher.workdir", TEACHER_HINT)


def check_teacher(config, workdir: str) -> None:
    """Unless the student in DIR already holds the teacher's predictions: config.teacher.workdir holds a run
    of the student's dataset and image size; read before anything is compiled or written."""
    stored = os.path.join(workdir, files.PSEUDO_LABELS)
    if not config.get("teacher", {}).get("workdir") or os.path.exists(stored):
        return
    found = teacher_config(config.teacher.workdir)
    for key in ("dataset", "image_size"):
        if found.data[key] != config.data[key]:
            raise ValueError(
                f"the teacher in {config.teacher.workdir} was trained with data.{key}={found.data[key]!r}, "
                f"the student has {config.data[key]!r}: a teacher labels the student's own training examples"
            )


def teacher_probabilities(teacher_dir: str) -> tuple[np.ndarray, int]:
    """(float32 (N, classes) softmax of the teacher network's own classifier on every training example, in
    stored order, on its evaluated weights; the step of the checkpoint read)."""
    config = teacher_config(teacher_dir)
    exp = experiment_lib.prepare(config)
    if not has_classifier(exp.method.network):
        raise ValueError(
            f"the teacher in {teacher_dir} ({exp.method.name}) has no classifier of its own to pseudo-label "
            "with"
        )
    state = checkpoint.restore_newest(
        teacher_dir, identity=exp.identity, abstract_state=experiment_lib.state_layout(exp), hint=TEACHER_HINT
    )
    embed_fn = step_lib.make_embed_fn(exp.method.network, exp.image_size, with_logits=True)
    batches = batch_streams.eval_batches(exp, exp.train_source, config.eval.batch_size)
    outputs = embed.embed_split(
        embed.compile_embed(embed_fn, exp.mesh),
        evaluated_weights(state, exp.method.eval_weights),
        batches,
        exp.mesh,
    )
    return np.asarray(jax.nn.softmax(outputs["logits"].astype(np.float32), axis=-1)), int(state.step)


def stored_probabilities(config, workdir: str) -> np.ndarray:
    """The teacher's predictions this student trains on: read from DIR/pseudo_labels.npz, or computed and (by
    process 0) written there first. Rounded to float16 either way, so a resumed run sees the same targets."""
    path = os.path.join(workdir, files.PSEUDO_LABELS)
    if os.path.exists(path):
        with np.load(path) as stored:
            return stored["probabilities"].astype(np.float32)
    probabilities, step = teacher_probabilities(config.teacher.workdir)
    probabilities = probabilities.astype(np.float16)
    if jax.process_index() == 0:
        os.makedirs(workdir, exist_ok=True)
        with files.written_whole(path, "wb") as f:
            np.savez(f, probabilities=probabilities, teacher=config.teacher.workdir, teacher_step=step)
    sharding.every_process_reaches("pseudo-labels written")
    logging.info(
        "the teacher's predictions (%s at step %d) are kept in %s", config.teacher.workdir, step, path
    )
    return probabilities.astype(np.float32)


def with_pseudo_labels(exp, config, workdir: str):
    """`exp` whose unlabelled part draws from the teacher's confident, class-balanced rows, each carrying the
    teacher's distribution (config.teacher.soft) or its one-hot argmax as its soft label; `exp` itself for a
    run without a teacher."""
    if not config.get("teacher", {}).get("workdir"):
        return exp
    probabilities = stored_probabilities(config, workdir)
    classes = exp.info.num_classes
    if probabilities.shape != (len(exp.train_source.labels), classes):
        raise ValueError(
            f"the teacher's predictions in {os.path.join(workdir, files.PSEUDO_LABELS)} have shape "
            f"{probabilities.shape}; this run's training split needs ({len(exp.train_source.labels)}, {classes})"
        )
    per_class = config.teacher.per_class or len(probabilities) // classes
    rows = confident_balanced_rows(
        probabilities, threshold=config.teacher.threshold, per_class=per_class, seed=config.seed
    )
    if not len(rows):
        raise ValueError(
            f"no training example reaches the teacher confidence threshold {config.teacher.threshold}"
        )
    targets = probabilities[rows]
    if not config.teacher.soft:
        targets = np.eye(classes, dtype=np.float32)[targets.argmax(axis=1)]
    labelled, unlabelled = exp.parts
    log_selection(exp.train_source.labels, probabilities, rows, config.teacher.threshold)
    pseudo = Part(
        unlabelled.batch, indices=rows, labels=np.full(len(rows), -1, np.int32), soft_labels=targets
    )
    return dataclasses.replace(exp, parts=(labelled, pseudo))


def log_selection(labels: np.ndarray, probabilities: np.ndarray, rows: np.ndarray, threshold: float) -> None:
    """How many examples the teacher is confident of, how many rows the student draws, and how often the
    teacher's label is right on them (measurable where the split has labels; the student never sees them)."""
    predicted = probabilities.argmax(axis=1)
    confident = probabilities.max(axis=1) >= threshold
    known = labels[rows] >= 0
    right = float(np.mean(predicted[rows][known] == labels[rows][known])) if known.any() else float("nan")
    logging.info(
        "pseudo-labels: %d of %d examples at confidence >= %.2f; the student draws %d rows (%d distinct), "
        "%.2f %% of them labelled right by the teacher",
        int(confident.sum()),
        len(labels),
        threshold,
        len(rows),
        len(np.unique(rows)),
        100 * right,
    )
