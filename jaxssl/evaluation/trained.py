"""The protocols that train a classifier on the labelled examples and test it on the eval split
(probes/finetune.py): linear_sgd (the papers' linear probe on the frozen backbone) and finetune (the whole
features path; from --eval_init=random, the supervised baseline). Each takes a context.Context. Either may
start from a layer of the projection head (Recipe.head_layers, SimCLR v2's fine-tuning), and fine-tuning
may keep its classifier's predictions on the training split, the teacher of a distillation
(config.eval.finetune_predictions). Their training resumes after a preemption (resumable.py)."""

import os

import jax
import numpy as np

from jaxssl import batch_streams
from jaxssl.evaluation import resumable
from jaxssl.models.classifier import Classifier
from jaxssl.probes import classify, finetune
from jaxssl.rundir import files
from jaxssl.state import evaluated_weights

BLOCKS = {"linear_sgd": False, "finetune": True}  # protocol: whether it trains the backbone


def linear_sgd_record(context) -> dict:
    """A linear classifier trained on the frozen network's features, by config.linear_sgd's recipe."""
    return trained_record(context, "linear_sgd")


def finetune_record(context) -> dict:
    """The whole network and a classifier on it trained together, by config.finetune's recipe; with
    config.eval.finetune_predictions, its predictions on the training split are kept (keep_predictions)."""
    return trained_record(context, "finetune")


def head_layers_check(block_name: str):
    """The registry's check of a supervised protocol, made before any protocol computes: the head layers of
    config[block_name] fit the run's network (finetune.check_head_layers)."""

    def check(config, exp, labelled) -> None:
        del labelled
        finetune.check_head_layers(exp.method.network, config[block_name].get("head_layers", 0), block_name)

    return check


def trained_record(context, block_name: str) -> dict:
    """Trains a classifier on the labelled examples, from the context's network, with config[block_name]'s
    recipe and the context's key, and tests it on the eval split; the record holds the recipe too."""
    exp, config, labelled = context.exp, context.config, context.labelled
    block = config[block_name]
    recipe = finetune.Recipe(**block)
    classifier = Classifier(
        network=finetune.with_drop_path(exp.method.network, recipe.drop_path),
        num_classes=max(exp.info.num_classes, 1),
        train_backbone=BLOCKS[block_name],
        head_layers=recipe.head_layers,
    )
    num_steps = recipe.steps(len(labelled.labels))

    def batches_from(start_step: int):
        return batch_streams.labelled_batches(
            exp,
            labelled,
            batch=recipe.batch_size,
            start_step=start_step,
            num_steps=num_steps,
            min_crop_scale=recipe.min_crop_scale,
        )

    params, batch_stats = evaluated_weights(context.state, exp.method.eval_weights)
    with resumable.protocol_progress(
        resumable.progress_dir(context.workdir, block_name, context.header),
        {"protocol": block_name, **{f"{block_name}.{k}": v for k, v in block.items()}, **context.header},
        every_steps=config.checkpoint.every_steps,
        num_steps=num_steps,
    ) as progress:
        variables, summary = finetune.train_classifier(
            classifier,
            recipe=recipe,
            examples=len(labelled.labels),
            batches_from=batches_from,
            image_size=exp.image_size,
            host_crop=exp.host_crop,
            channels=exp.info.image_shape[-1] or 3,
            mesh=exp.mesh,
            key=context.key,
            pretrained=dict(params=params, batch_stats=batch_stats),
            progress=progress,
        )
    eval_batches = batch_streams.eval_batches(exp, exp.eval_source, config.eval.batch_size)
    record = classify.eval_accuracy(classifier, variables, eval_batches, exp.image_size, exp.mesh)
    if block_name == "finetune" and config.eval.get("finetune_predictions", False):
        record["predictions"] = keep_predictions(context, classifier, variables, record["top1"])
    return {**record, **summary, "recipe": dict(block)}


def keep_predictions(context, classifier: Classifier, variables, top1: float) -> str:
    """Writes the fine-tuned classifier's class distribution on every training example (the centre view, in
    stored order) to DIR/finetuned/labels<fraction>.npz (_1, _2... beside earlier ones) and returns that
    path. It is the format of a student's pseudo_labels.npz (jaxssl/teacher.py: float16
    `probabilities`, `teacher`, `teacher_step`) with the `dataset`, label fraction, head layers and top-1
    that made it: config.teacher.workdir of a distillation (configs/simclr_v2_distill.py) names it."""
    exp, header = context.exp, context.header
    batches = batch_streams.eval_batches(exp, exp.whole_train_source, context.config.eval.batch_size)
    probabilities = classify.class_probabilities(classifier, variables, batches, exp.image_size, exp.mesh)
    directory = os.path.join(context.workdir, files.FINETUNED)
    path = files.free_path(directory, f"labels{header['label_fraction']:g}", "npz")
    if jax.process_index() == 0:
        os.makedirs(directory, exist_ok=True)
        with files.written_whole(path, "wb") as f:
            np.savez(
                f,
                probabilities=probabilities.astype(np.float16),
                teacher=context.workdir,
                teacher_step=header["step"],
                dataset=context.config.data.dataset,
                label_fraction=header["label_fraction"],
                head_layers=classifier.head_layers,
                top1=top1,
            )
    return path
