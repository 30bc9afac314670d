"""Noisy Student's pseudo-labels (Xie et al. 2020, algorithm 1, step 2): a finished run's network, not
noised (evaluation mode, the centre view), predicts a class distribution for every training example; the
confident ones, balanced over the classes (subsets.confident_balanced_rows), become the rows a student
trains on beside the labelled ones.

The teacher's predictions are computed once, when the student starts, and kept in the student's run
directory (DIR/pseudo_labels.npz, float16, with the teacher's directory and step) once they give the student
rows, so a resumed student reads the same targets even if the teacher trained on since (and says so); the
teacher's directory is only read.

A distilled student (SimCLR v2, methods/distill.py) learns from every training example once
(config.teacher.balance False, threshold 0), and its teacher may also be a fine-tuned classifier's
predictions: the DIR/finetuned/*.npz file that --protocol=finetune keeps (evaluation/trained.py
keep_predictions), in the format of pseudo_labels.npz with the dataset it was made on.
"""

import dataclasses
import logging
import os

import jax
import ml_collections
import numpy as np

from jaxssl import batch_streams, run_state, sharding
from jaxssl import experiment as experiment_lib
from jaxssl import step as step_lib
from jaxssl.data.parts import Part
from jaxssl.data.subsets import confident_balanced_rows
from jaxssl.models.network import has_classifier
from jaxssl.probes import embed
from jaxssl.rundir import checkpoint, files
from jaxssl.state import evaluated_weights

TEACHER_HINT = ": train the teacher first (launch/noisy_student.py runs the rounds in order)"
PREDICTIONS_HINT = (
    "--mode=evaluate --protocol=finetune with config.eval.finetune_predictions=True keeps a fine-tuned "
    "classifier's predictions in DIR/finetuned/"
)


def is_predictions_file(teacher: str) -> bool:
    """Whether config.teacher.workdir names a file of kept predictions (.npz) rather than a run directory."""
    return teacher.endswith(".npz")


def teacher_config(teacher_dir: str) -> ml_collections.ConfigDict:
    """The config a teacher run saved (DIR/config.json): a clear error when DIR holds no run."""
    return files.run_config(teacher_dir, "config.teacher.workdir", TEACHER_HINT)


def check_teacher(exp, config, workdir: str) -> None:
    """Unless the student in DIR already holds the teacher's predictions: config.teacher.workdir holds a run
    of the student's dataset and image size whose network has a classifier (its method built on the student's
    data, `exp`'s); read before anything is compiled or written."""
    stored = os.path.join(workdir, files.PSEUDO_LABELS)
    if not config.get("teacher", {}).get("workdir") or os.path.exists(stored):
        return
    if is_predictions_file(config.teacher.workdir):
        check_predictions_file(config.teacher.workdir, config, exp)
        return
    found = teacher_config(config.teacher.workdir)
    for key in ("dataset", "image_size"):
        if found.data[key] != config.data[key]:
            raise ValueError(
                f"the teacher in {config.teacher.workdir} was trained with data.{key}={found.data[key]!r}, "
                f"the student has {config.data[key]!r}: a teacher labels the student's own training examples"
            )
    teacher_exp = experiment_lib.prepare(found, data=(exp.train_source, exp.eval_source, exp.info))
    check_classifier(teacher_exp, config.teacher.workdir)


def check_classifier(teacher_exp, teacher_dir: str) -> None:
    """ValueError unless the teacher's network has a classifier of its own (has_classifier)."""
    if not has_classifier(teacher_exp.method.network):
        raise ValueError(
            f"the teacher in {teacher_dir} ({teacher_exp.method.name}) has no classifier of its own to "
            "pseudo-label with: a teacher is a run of a method that trains one (supervised, fixmatch, ...), or "
            f"the predictions of a fine-tuned one ({PREDICTIONS_HINT})"
        )


def check_predictions_file(path: str, config, exp) -> None:
    """ValueError unless `path` holds kept predictions (keep_predictions' format) on the student's dataset,
    one row per example of its training split and one column per class."""
    if not os.path.isfile(path):
        raise ValueError(f"config.teacher.workdir={path!r} is not a file of predictions ({PREDICTIONS_HINT})")
    with np.load(path) as stored:
        dataset = str(stored["dataset"]) if "dataset" in stored else "an unnamed dataset"
        shape = stored["probabilities"].shape
    if dataset != config.data.dataset:
        raise ValueError(
            f"the teacher's predictions in {path} were made on {dataset}'s training split, the student trains "
            f"on {config.data.dataset!r}: a teacher labels the student's own training examples"
        )
    expected = (len(exp.train_source.labels), exp.info.num_classes)
    if tuple(shape) != expected:
        raise ValueError(
            f"the teacher's predictions in {path} have shape {tuple(shape)}; this run's training split needs "
            f"{expected}"
        )


def teacher_probabilities(teacher_dir: str) -> tuple[np.ndarray, int]:
    """(float32 (N, classes) softmax of the teacher network's own classifier on every training example, in
    stored order, on its evaluated weights; the step of the checkpoint read), or those kept in a predictions
    file and the step of the checkpoint they were made from."""
    if is_predictions_file(teacher_dir):
        with np.load(teacher_dir) as stored:
            return stored["probabilities"].astype(np.float32), int(stored["teacher_step"])
    config = teacher_config(teacher_dir)
    exp = experiment_lib.prepare(config)
    check_classifier(exp, teacher_dir)
    state = checkpoint.restore_newest(
        teacher_dir, identity=exp.identity, abstract_state=run_state.state_layout(exp), hint=TEACHER_HINT
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


def stored_probabilities(path: str) -> np.ndarray | None:
    """The teacher's predictions kept in `path` (a student's DIR/pseudo_labels.npz), or None when there are
    none; logged, since a rerun trains on these rather than on what the teacher predicts now."""
    if not os.path.exists(path):
        return None
    with np.load(path) as stored:
        teacher_dir, step = str(stored["teacher"]), int(stored["teacher_step"])
        probabilities = stored["probabilities"].astype(np.float32)
    logging.info("reusing the predictions of the teacher %s at step %d kept in %s", teacher_dir, step, path)
    return probabilities


def keep_probabilities(path: str, probabilities: np.ndarray, teacher_dir: str, step: int) -> None:
    """Writes the teacher's predictions to `path` (process 0), for the student's resumed runs."""
    if jax.process_index() == 0:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with files.written_whole(path, "wb") as f:
            np.savez(f, probabilities=probabilities, teacher=teacher_dir, teacher_step=step)
    sharding.every_process_reaches("pseudo-labels written")
    logging.info("the teacher's predictions (%s at step %d) are kept in %s", teacher_dir, step, path)


def no_confident_example_message(threshold: float, probabilities: np.ndarray, path: str, reused: bool) -> str:
    message = (
        f"no training example reaches the teacher confidence threshold config.teacher.threshold={threshold}: "
        f"the teacher's most confident prediction is {float(probabilities.max()):.3f}; lower "
        "config.teacher.threshold below it, or train the teacher longer"
    )
    if reused:
        message += (
            f" (these predictions were kept in {path} by an earlier start; remove it to ask the teacher)"
        )
    return message


def with_pseudo_labels(exp, config, workdir: str):
    """`exp` whose unlabelled part draws from the teacher's confident, class-balanced rows (each confident row
    once with config.teacher.balance False), each carrying the teacher's distribution (config.teacher.soft) or
    its one-hot argmax as its soft label; `exp` itself for a run without a teacher. The teacher's
    predictions are read from DIR/pseudo_labels.npz, or computed and kept there once they give the student
    rows (rounded to float16 either way, so that a resumed run sees the same targets): a refused student keeps
    none for its rerun."""
    if not config.get("teacher", {}).get("workdir"):
        return exp
    path = os.path.join(workdir, files.PSEUDO_LABELS)
    probabilities = stored_probabilities(path)
    reused = probabilities is not None
    if not reused:
        computed, step = teacher_probabilities(config.teacher.workdir)
        probabilities = computed.astype(np.float16).astype(np.float32)
    classes = exp.info.num_classes
    if probabilities.shape != (len(exp.train_source.labels), classes):
        raise ValueError(
            f"the teacher's predictions in {path} have shape {probabilities.shape}; this run's training split "
            f"needs ({len(exp.train_source.labels)}, {classes})"
        )
    threshold = config.teacher.threshold
    if config.teacher.get("balance", True):
        per_class = config.teacher.per_class or len(probabilities) // classes
        rows = confident_balanced_rows(
            probabilities, threshold=threshold, per_class=per_class, seed=config.seed
        )
    else:
        rows = np.flatnonzero(probabilities.max(axis=1) >= threshold)
    if not len(rows):
        raise ValueError(no_confident_example_message(threshold, probabilities, path, reused))
    if not reused:
        keep_probabilities(path, probabilities.astype(np.float16), config.teacher.workdir, step)
    targets = probabilities[rows]
    if not config.teacher.soft:
        targets = np.eye(classes, dtype=np.float32)[targets.argmax(axis=1)]
    labelled, unlabelled = exp.parts
    log_selection(exp.train_source.labels, probabilities, rows, threshold)
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
