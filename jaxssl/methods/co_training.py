"""Co-training of two deep networks (Blum and Mitchell 1998's two views, with deep networks): two networks, each
on its own view of every image, teach each other on the unlabelled rows where one of them is confident. Deep
co-training's own objective (Qiao et al. 2018) is methods/deep_co_training.py, on the same pair of networks."""

import jax.numpy as jnp

from jaxssl import losses
from jaxssl.methods.forward import dropout_rngs, forward
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.methods.semisup import check_semisupervised, with_labelled_rows
from jaxssl.models.network import CoTrainingNetwork


def pair_network(context: MethodContext) -> CoTrainingNetwork:
    """Two networks of the context's backbone, two independent initialisations, their own parameters and
    BatchNorm batches. Evaluation reads the first network's features and the pair's averaged prediction
    (models.network.CoTrainingNetwork)."""
    return CoTrainingNetwork(
        backbone=context.backbone,
        second_backbone=context.backbone.clone(),
        num_classes=context.num_classes,
        image_mean=tuple(context.image_mean),
        image_std=tuple(context.image_std),
    )


def supervised_pair_terms(first, second, labels):
    """(CE(first_l, y) + CE(second_l, y), the first network's top-1 on the labelled rows, the fraction of the
    unlabelled rows on which the two predict the same class) of the pair's logits on a batch whose first
    len(labels) rows are labelled."""
    labelled = labels.shape[0]
    first_ce, first_top1 = losses.hard_label_cross_entropy(first[:labelled], labels)
    second_ce, _ = losses.hard_label_cross_entropy(second[:labelled], labels)
    agreement = jnp.mean(jnp.argmax(first[labelled:], -1) == jnp.argmax(second[labelled:], -1))
    return first_ce + second_ce, first_top1, agreement


def make(context: MethodContext, *, threshold=0.95, unlabelled_weight=1.0) -> Method:
    """Co-training in its classic form (Blum and Mitchell 1998): each classifier labels the examples it is
    confident of for the other. The pair of `pair_network`; views[0] of every row through the first network,
    views[1] through the second, the first B_l rows labelled, and

        L = CE(first_l, y) + CE(second_l, y)
            + lambda_u [fixmatch_unlabelled(second_u, first_u, tau) + fixmatch_unlabelled(first_u, second_u, tau)],

    each network's confident (max softmax >= tau `threshold`) predictions, hard labels under stop_gradient,
    supervising the other network's view of the row (lambda_u `unlabelled_weight`). "agreement" logs how
    often the two predict the same class of an unlabelled row."""
    check_semisupervised(context, "co_training")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"co_training's confidence threshold must lie in (0, 1], got {threshold}")
    network = pair_network(context)
    labelled = context.labelled_batch

    def loss(params, inputs: LossInputs):
        first_view, second_view = inputs.views
        outputs, batch_stats = forward(
            network,
            {"params": params, "batch_stats": inputs.batch_stats},
            (first_view, second_view),
            dropout_rngs(inputs.key, 0),
            method="pair",
        )
        first, second = outputs["first"], outputs["second"]
        supervised, first_top1, agreement = supervised_pair_terms(first, second, inputs.labels[:labelled])
        taught_first, first_mask = losses.fixmatch_unlabelled(second[labelled:], first[labelled:], threshold)
        taught_second, second_mask = losses.fixmatch_unlabelled(
            first[labelled:], second[labelled:], threshold
        )
        pseudo_labels, _ = losses.confident_pseudo_labels(first[labelled:], threshold)
        return supervised + unlabelled_weight * (taught_first + taught_second), LossAux(
            batch_stats=batch_stats,
            metrics={
                "supervised_ce": supervised,
                "unlabelled_ce": taught_first + taught_second,
                "mask_rate": (first_mask + second_mask) / 2,
                "agreement": agreement,
                "labelled_top1": first_top1,
            },
            features=outputs["features"],
            pseudo_labels=with_labelled_rows(labelled, pseudo_labels),
        )

    return Method(name="co_training", network=network, loss=loss)
