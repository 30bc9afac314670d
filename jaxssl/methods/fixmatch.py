"""FixMatch (Sohn et al. 2020, "FixMatch: Simplifying Semi-Supervised Learning with Consistency and
Confidence"): the weak view's confident predictions, as hard labels, supervise the strong view."""

from jaxssl import losses
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.methods.semisup import (
    check_semisupervised,
    classifier_network,
    ema_decay,
    weak_strong_forward,
    with_labelled_rows,
)


def make(context: MethodContext, *, threshold=0.95, unlabelled_weight=1.0, ema=0.999) -> Method:
    """Per step (Sohn et al. 2020, algorithm 1): the batch's first B_l rows are labelled and the other mu B_l
    unlabelled; views[0] is the weak view and views[1] the strong one (the fixmatch preset). The labelled
    rows' weak views, the unlabelled rows' weak views and their strong views go through the network as one
    batch, so they share BatchNorm statistics (what the reference code's interleaving achieves), and

        L = CE(labelled weak logits, labels) + lambda_u fixmatch_unlabelled(weak_u, strong_u, tau)

    (losses.fixmatch_unlabelled; tau `threshold` 0.95, lambda_u `unlabelled_weight` 1). The weights' EMA
    (`ema` 0.999) is the model that evaluation reads (Method.eval_weights); the online probe learns on the
    weak views' features of the labelled rows only (the others show label -1)."""
    check_semisupervised(context, "fixmatch")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"fixmatch's confidence threshold must lie in (0, 1], got {threshold}")
    if not 0.0 <= ema < 1.0:
        raise ValueError(f"fixmatch's ema must lie in [0, 1), got {ema}")
    network = classifier_network(context)
    labelled = context.labelled_batch

    def loss(params, inputs: LossInputs):
        outputs, batch_stats, rows = weak_strong_forward(network, params, inputs, labelled)
        logits = outputs["logits"]
        supervised, labelled_top1 = losses.hard_label_cross_entropy(
            logits[:labelled], inputs.labels[:labelled]
        )
        unlabelled, mask_rate = losses.fixmatch_unlabelled(logits[labelled:rows], logits[rows:], threshold)
        pseudo_labels, _ = losses.confident_pseudo_labels(logits[labelled:rows], threshold)
        return supervised + unlabelled_weight * unlabelled, LossAux(
            batch_stats=batch_stats,
            metrics={
                "supervised_ce": supervised,
                "unlabelled_ce": unlabelled,
                "mask_rate": mask_rate,
                "labelled_top1": labelled_top1,
            },
            features=outputs["features"][:rows],
            pseudo_labels=with_labelled_rows(labelled, pseudo_labels),
        )

    return Method(
        name="fixmatch", network=network, loss=loss, target_decay=ema_decay(ema), eval_weights="target"
    )
