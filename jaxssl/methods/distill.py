"""Distillation with unlabelled examples (SimCLR v2, Chen et al. 2020b, "Big Self-Supervised Models are Strong
Semi-Supervised Learners", section 2): a student classifier learns a fixed, fine-tuned teacher's tempered
class distribution on the training split, itself (self-distillation) or a smaller network."""

from jaxssl import losses
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.methods.semisup import (
    check_semisupervised,
    classifier_network,
    one_view_forward,
    with_labelled_rows,
)


def make(context: MethodContext, *, temperature=0.1, labelled_weight=0.0) -> Method:
    """Per step: one view of every row (crop and flip, as the paper's distillation) through the student, a
    backbone and a linear classifier (self-distillation: the teacher's architecture without its projection
    head layers, as the paper's), in training mode, and (paper, eq. (3); labelled_weight = 1 - alpha)

        L = labelled_weight x CE(labelled logits, labels)
            + (1 - labelled_weight) x knowledge_distillation(teacher rows' logits, p_T, temperature),

    eq. (2) alone with labelled_weight = 0 (the paper's default: the labels only through the teacher). The
    batch's first B_l rows are labelled; the other mu B_l walk every example of the training split, each
    carrying p_T, the teacher's class distribution (LossInputs.soft_labels), computed once before training
    and kept in the run directory (jaxssl/teacher.py, config.teacher.balance False), so a resumed student is
    bit-exact. The paper's temperature: 0.1 for self-distillation, 1 from a larger teacher. The student is
    evaluated as it is (no EMA)."""
    check_semisupervised(context, "distill")
    if not 0.0 <= labelled_weight < 1.0:
        raise ValueError(
            f"distill's labelled_weight (1 - alpha of eq. (3)) must lie in [0, 1), got {labelled_weight}"
        )
    network = classifier_network(context)
    labelled = context.labelled_batch

    def loss(params, inputs: LossInputs):
        outputs, batch_stats, supervised, labelled_top1 = one_view_forward(network, params, inputs, labelled)
        if inputs.soft_labels is None:
            raise ValueError("distill learns from a teacher's predictions: set config.teacher.workdir")
        logits, targets = outputs["logits"][labelled:], inputs.soft_labels[labelled:]
        distillation = losses.knowledge_distillation(logits, targets, temperature)
        value = labelled_weight * supervised + (1.0 - labelled_weight) * distillation
        teacher_classes = targets.argmax(axis=-1)
        return value, LossAux(
            batch_stats=batch_stats,
            metrics={
                "supervised_ce": supervised,
                "labelled_top1": labelled_top1,
                "distillation": distillation,
                "teacher_agreement": (logits.argmax(axis=-1) == teacher_classes).mean(),
            },
            features=outputs["features"],
            pseudo_labels=with_labelled_rows(labelled, teacher_classes),
        )

    return Method(name="distill", network=network, loss=loss)
