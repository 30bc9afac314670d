"""Co-training of two deep networks (Blum and Mitchell 1998's two views, made deep by Qiao et al. 2018, "Deep
Co-Training for Semi-Supervised Image Recognition"): two networks, each on its own view of every image, teach
each other on the unlabelled rows where one of them is confident."""

import jax.numpy as jnp

from jaxssl import losses
from jaxssl.methods.forward import dropout_rngs, forward
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.methods.semisup import check_semisupervised, with_labelled_rows
from jaxssl.models.network import CoTrainingNetwork


def make(context: MethodContext, *, threshold=0.95, unlabelled_weight=1.0) -> Method:
    """Per step: views[0] of every row through the first network and views[1] through the second (their own
    parameters and BatchNorm batches, two independent initialisations), and

        L = CE(first_l, y) + CE(second_l, y)
            + lambda_u [fixmatch_unlabelled(second_u, first_u, tau)
                        + fixmatch_unlabelled(first_u, second_u, tau)]

    each network's confident (max softmax >= tau) predictions on its view, as hard labels under
    stop_gradient, supervising the other network's view of the same row: co-training's "each classifier
    labels the examples it is confident of for the other", as the course presents it. Qiao et al.'s own
    losses (a Jensen-Shannon agreement term and adversarial view differences) are not implemented. Evaluation
    reads the first network's features and the pair's averaged prediction (models.network.CoTrainingNetwork);
    "agreement" logs how often the two networks predict the same class of an unlabelled row."""
    check_semisupervised(context, "co_training")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"co_training's confidence threshold must lie in (0, 1], got {threshold}")
    network = CoTrainingNetwork(
        backbone=context.backbone,
        second_backbone=context.backbone.clone(),
        num_classes=context.num_classes,
        image_mean=tuple(context.image_mean),
        image_std=tuple(context.image_std),
    )
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
        labels = inputs.labels[:labelled]
        first_ce, first_top1 = losses.hard_label_cross_entropy(first[:labelled], labels)
        second_ce, _ = losses.hard_label_cross_entropy(second[:labelled], labels)
        taught_first, first_mask = losses.fixmatch_unlabelled(second[labelled:], first[labelled:], threshold)
        taught_second, second_mask = losses.fixmatch_unlabelled(
            first[labelled:], second[labelled:], threshold
        )
        pseudo_labels, _ = losses.confident_pseudo_labels(first[labelled:], threshold)
        agreement = jnp.mean(jnp.argmax(first[labelled:], -1) == jnp.argmax(second[labelled:], -1))
        return first_ce + second_ce + unlabelled_weight * (taught_first + taught_second), LossAux(
            batch_stats=batch_stats,
            metrics={
                "supervised_ce": first_ce + second_ce,
                "unlabelled_ce": taught_first + taught_second,
                "mask_rate": (first_mask + second_mask) / 2,
                "agreement": agreement,
                "labelled_top1": first_top1,
            },
            features=outputs["features"],
            pseudo_labels=with_labelled_rows(labelled, pseudo_labels),
        )

    return Method(name="co_training", network=network, loss=loss)
