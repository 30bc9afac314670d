"""S4L (Zhai, Oliver, Kolesnikov and Beyer 2019, "S4L: Self-Supervised Semi-Supervised Learning"): the
classifier's cross-entropy on the labelled rows plus a self-supervised loss on every row, one backbone."""

import jax.numpy as jnp

from jaxssl import losses
from jaxssl.augment import pretext
from jaxssl.methods.forward import dropout_rngs, forward
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.methods.semisup import check_semisupervised
from jaxssl.models.network import AuxiliaryHeadNetwork

TASKS = ("rotation", "exemplar")
ROTATIONS = 4


def check_labelled_rows(context: MethodContext, task: str) -> None:
    """S4L's self-supervised head trains beside a classifier of labelled rows: a run without is refused."""
    if context.labelled_batch < 1 or context.num_classes < 2:
        raise ValueError(
            f"s4l's {task} head trains beside a classifier of the labelled rows, and this run has none "
            f"({context.labelled_batch} labelled rows, {context.num_classes} classes): set config.semisup "
            "(the labelled subset and mu) on a dataset with classes"
        )


def make(
    context: MethodContext,
    *,
    task: str = "rotation",
    self_supervised_weight: float = 1.0,
    embedding_dim: int = 1000,
    triplet_margin: float = 0.0,
    soft_margin: bool = True,
) -> Method:
    """Per step (Zhai et al. 2019, section 3): the batch's first B_l rows are labelled, the other mu B_l
    unlabelled (config.semisup), and every copy of every row goes through the network in one batch (one set of
    BatchNorm statistics):

        L = CE(classifier logits of the labelled rows' copies, labels) + w L_self(every row),   w = 1,

    the classifier's cross-entropy on each copy of a labelled row (as the released code does); the online
    probe reads the first copy's features (the unrotated view, or the first exemplar view).

    task "rotation" (S4L-Rotation, section 3.1): the copies are the four rotations of the view (pretext.
    rotations) and L_self the 4-way cross-entropy of a linear head on the backbone's features (RotNet's task).
    task "exemplar" (S4L-Exemplar, section 3.2): the copies are the K views of the config's augmentation (8
    in the paper) and L_self the batch-hard triplet loss over them (losses.batch_hard_triplet; soft margin,
    `triplet_margin` 0), on a linear `embedding_dim` head (1000 in the released code) L2-normalised.

    Evaluated on the online weights (the released scripts average none)."""
    if task not in TASKS:
        raise ValueError(f"unknown s4l task {task!r}; choose from {list(TASKS)}")
    check_labelled_rows(context, task)
    check_semisupervised(context, "s4l")
    if self_supervised_weight < 0 or triplet_margin < 0:
        raise ValueError(
            "s4l's self_supervised_weight and triplet_margin must be >= 0, got "
            f"{self_supervised_weight} and {triplet_margin}"
        )
    network = AuxiliaryHeadNetwork(
        backbone=context.backbone,
        num_classes=context.num_classes,
        image_mean=tuple(context.image_mean),
        image_std=tuple(context.image_std),
        auxiliary_dim=ROTATIONS if task == "rotation" else embedding_dim,
    )
    labelled = context.labelled_batch

    def copies_of(views):
        """(K B, S, S, C) copies, row k B + b copy k of row b, and their rotation labels (None: exemplar)."""
        if task == "rotation":
            return pretext.rotations(views[0])
        if len(views) < 2:
            raise ValueError(
                f"s4l's exemplar task compares copies of each image: give it at least 2 views (the "
                f"augmentation's count), got {len(views)}"
            )
        return jnp.concatenate(views, axis=0), None

    def self_supervised(auxiliary, rotation_labels, rows: int):
        """(L_self, its metrics) of the auxiliary head's outputs on every copy."""
        if task == "rotation":
            value, top1 = losses.hard_label_cross_entropy(auxiliary, rotation_labels)
            return value, {"rotation_ce": value, "rotation_top1": top1}
        embeddings = jnp.swapaxes(auxiliary.reshape(-1, rows, auxiliary.shape[-1]), 0, 1)
        value = losses.batch_hard_triplet(embeddings, triplet_margin, soft_margin)
        return value, {"exemplar_triplet": value}

    def loss(params, inputs: LossInputs):
        rows = inputs.views[0].shape[0]
        images, rotation_labels = copies_of(inputs.views)
        outputs, batch_stats = forward(
            network,
            {"params": params, "batch_stats": inputs.batch_stats},
            images,
            dropout_rngs(inputs.key, 0),
        )
        logits = outputs["logits"].reshape(-1, rows, outputs["logits"].shape[-1])[:, :labelled]
        copies = logits.shape[0]
        supervised, labelled_top1 = losses.hard_label_cross_entropy(
            logits.reshape(copies * labelled, -1), jnp.tile(inputs.labels[:labelled], copies)
        )
        unsupervised, metrics = self_supervised(outputs["auxiliary"], rotation_labels, rows)
        return supervised + self_supervised_weight * unsupervised, LossAux(
            batch_stats=batch_stats,
            metrics={"supervised_ce": supervised, "labelled_top1": labelled_top1, **metrics},
            features=outputs["features"][:rows],
        )

    return Method(name="s4l", network=network, loss=loss)
