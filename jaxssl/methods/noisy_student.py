"""Noisy Student (Xie et al. 2020, "Self-training with Noisy Student improves ImageNet classification"): a
teacher's pseudo-labels on unlabelled images train a noised student of equal or larger size, which becomes
the next teacher."""

import jax.numpy as jnp

from jaxssl import losses
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.methods.semisup import classifier_network, one_view_forward, with_labelled_rows


def make(context: MethodContext, *, unlabelled_weight=1.0, dropout=0.5) -> Method:
    """Per step (paper, algorithm 1, step 3): one noised view of every row (RandAugment; the noisy_student
    preset) through the network in training mode with dropout (`dropout` on the classifier's input, 0.5 in
    the paper) and stochastic depth (the backbone's drop_path), and

        L = CE(labelled logits, labels) + unlabelled_weight x soft CE(pseudo-labelled logits, q)

    with q the teacher's class distribution of each pseudo-labelled row, or its one-hot argmax
    (config.teacher.soft), fixed before training (jaxssl/teacher.py, not noised). The batch's first B_l rows
    are labelled; the other mu B_l rows come from the teacher's confident, class-balanced rows
    (LossInputs.soft_labels). With mu = 0 the batch is labelled rows only: the first teacher, trained with the
    same noise. The student is evaluated as it is (no EMA)."""
    if context.labelled_batch < 1 or context.num_classes < 2:
        raise ValueError(
            "noisy_student trains a classifier on labelled rows: set config.semisup (mu = 0 for the first "
            f"teacher) on a dataset with classes; this run has {context.labelled_batch} labelled rows and "
            f"{context.num_classes} classes"
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"noisy_student's dropout must lie in [0, 1), got {dropout}")
    network = classifier_network(context, dropout)
    labelled = context.labelled_batch

    def loss(params, inputs: LossInputs):
        outputs, batch_stats, supervised, labelled_top1 = one_view_forward(network, params, inputs, labelled)
        logits = outputs["logits"]
        metrics = {"supervised_ce": supervised, "labelled_top1": labelled_top1}
        if logits.shape[0] == labelled:
            return supervised, LossAux(batch_stats=batch_stats, metrics=metrics, features=outputs["features"])
        if inputs.soft_labels is None:
            raise ValueError(
                "noisy_student's unlabelled rows need a teacher's pseudo-labels: set config.teacher.workdir"
            )
        targets = inputs.soft_labels[labelled:]
        unlabelled = losses.soft_cross_entropy(logits[labelled:], targets)
        metrics["unlabelled_ce"] = unlabelled
        return supervised + unlabelled_weight * unlabelled, LossAux(
            batch_stats=batch_stats,
            metrics=metrics,
            features=outputs["features"],
            pseudo_labels=with_labelled_rows(labelled, jnp.argmax(targets, axis=-1)),
        )

    return Method(name="noisy_student", network=network, loss=loss)
