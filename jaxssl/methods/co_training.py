"""Co-training of two deep networks (Blum and Mitchell 1998's two views, made deep by Qiao et al. 2018, "Deep
Co-Training for Semi-Supervised Image Recognition"): two networks, each on its own view of every image, teach
each other on the unlabelled rows where one of them is confident; or, with Qiao et al.'s own objective, agree
on the unlabelled rows while each resists the other's adversarial examples."""

import jax
import jax.numpy as jnp
import optax

from jaxssl import losses
from jaxssl.methods.forward import dropout_rngs, forward
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.methods.semisup import check_semisupervised, sigmoid_ramp, with_labelled_rows
from jaxssl.models.network import CoTrainingNetwork

OBJECTIVES = ("confident_labels", "deep_co_training")


def make(
    context: MethodContext,
    *,
    objective="confident_labels",
    threshold=0.95,
    unlabelled_weight=1.0,
    cot_weight=10.0,
    dif_weight=0.5,
    epsilon=0.02,
    ramp_up_steps=0,
) -> Method:
    """Two networks of the context's backbone, two independent initialisations, their own parameters and
    BatchNorm batches. Evaluation reads the first network's features and the pair's averaged prediction
    (models.network.CoTrainingNetwork); "agreement" logs how often the two predict the same class of an
    unlabelled row. The first B_l rows are labelled.

    objective="confident_labels" (co-training as the course presents it: each classifier labels the
    examples it is confident of for the other): views[0] of every row through the first network, views[1]
    through the second, and

        L = CE(first_l, y) + CE(second_l, y)
            + lambda_u [fixmatch_unlabelled(second_u, first_u, tau) + fixmatch_unlabelled(first_u, second_u, tau)],

    each network's confident (max softmax >= tau `threshold`) predictions, hard labels under stop_gradient,
    supervising the other network's view of the row (lambda_u `unlabelled_weight`).

    objective="deep_co_training" (Qiao et al. 2018, eq. 2-6): both networks see views[0], and

        L = CE(p1_l, y) + CE(p2_l, y)
            + r(t) [lambda_cot jensen_shannon(p1_u, p2_u)
                    + lambda_dif (H(p1(x), p2(g1(x))) + H(p2(x), p1(g2(x))))],

    the Jensen-Shannon agreement on the unlabelled rows (losses.jensen_shannon) and the view difference on
    every row: H(p, q) the cross-entropy of q against the clean prediction p (under stop_gradient, a target),
    g_i(x) network i's adversarial example of x (adversarial_views: FGSM at `epsilon` on images in [0, 1],
    against the label of a labelled row and network i's own prediction on an unlabelled one), so that each
    network keeps its answer on what fools the other and the two do not collapse into one. lambda_cot
    `cot_weight`, lambda_dif `dif_weight`, both ramped up by r(t) = sigmoid_ramp(t, ramp_up_steps). The
    adversarial examples are made with the networks' batch statistics, and only the clean forward's
    BatchNorm statistics are kept."""
    check_semisupervised(context, "co_training")
    if objective not in OBJECTIVES:
        raise ValueError(f"co_training's objective is one of {OBJECTIVES}, got {objective!r}")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"co_training's confidence threshold must lie in (0, 1], got {threshold}")
    if min(cot_weight, dif_weight, epsilon) < 0:
        raise ValueError(
            f"co_training's cot_weight, dif_weight and epsilon must be >= 0, got {cot_weight}, {dif_weight}, "
            f"{epsilon}"
        )
    network = CoTrainingNetwork(
        backbone=context.backbone,
        second_backbone=context.backbone.clone(),
        num_classes=context.num_classes,
        image_mean=tuple(context.image_mean),
        image_std=tuple(context.image_std),
    )
    labelled = context.labelled_batch

    def supervised_terms(first, second, labels):
        first_ce, first_top1 = losses.hard_label_cross_entropy(first[:labelled], labels)
        second_ce, _ = losses.hard_label_cross_entropy(second[:labelled], labels)
        agreement = jnp.mean(jnp.argmax(first[labelled:], -1) == jnp.argmax(second[labelled:], -1))
        return first_ce + second_ce, first_top1, agreement

    def confident_labels_loss(params, inputs: LossInputs):
        first_view, second_view = inputs.views
        outputs, batch_stats = forward(
            network,
            {"params": params, "batch_stats": inputs.batch_stats},
            (first_view, second_view),
            dropout_rngs(inputs.key, 0),
            method="pair",
        )
        first, second = outputs["first"], outputs["second"]
        supervised, first_top1, agreement = supervised_terms(first, second, inputs.labels[:labelled])
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

    def deep_co_training_loss(params, inputs: LossInputs):
        view = inputs.views[0]
        variables = {"params": params, "batch_stats": inputs.batch_stats}
        outputs, batch_stats = forward(network, variables, (view, view), dropout_rngs(inputs.key, 0), "pair")
        first, second = outputs["first"], outputs["second"]
        labels = inputs.labels[:labelled]
        supervised, first_top1, agreement = supervised_terms(first, second, labels)
        agreement_loss = losses.jensen_shannon(first[labelled:], second[labelled:])
        first_attacked, second_attacked = adversarial_views(
            network,
            jax.lax.stop_gradient(variables),
            view,
            (attack_labels(first, labels), attack_labels(second, labels)),
            epsilon,
        )
        crossed, _ = forward(
            network, variables, (second_attacked, first_attacked), dropout_rngs(inputs.key, 1), "pair"
        )
        difference = losses.soft_cross_entropy(crossed["second"], jax.nn.softmax(first)) + (
            losses.soft_cross_entropy(crossed["first"], jax.nn.softmax(second))
        )
        ramp = sigmoid_ramp(inputs.step, ramp_up_steps)
        unlabelled = cot_weight * agreement_loss + dif_weight * difference
        return supervised + ramp * unlabelled, LossAux(
            batch_stats=batch_stats,
            metrics={
                "supervised_ce": supervised,
                "jensen_shannon": agreement_loss,
                "view_difference": difference,
                "ramp": ramp,
                "agreement": agreement,
                "labelled_top1": first_top1,
            },
            features=outputs["features"],
        )

    loss = confident_labels_loss if objective == "confident_labels" else deep_co_training_loss
    return Method(name="co_training", network=network, loss=loss)


def attack_labels(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """The labels a network's adversarial examples are made against: the given `labels` of the first rows,
    then the network's own prediction (argmax of `logits`) on the rest."""
    predicted = jnp.argmax(jax.lax.stop_gradient(logits[labels.shape[0] :]), axis=-1)
    return jnp.concatenate([labels, predicted.astype(labels.dtype)])


def adversarial_views(network, variables, images, labels, epsilon: float):
    r"""(g1(x), g2(x)): each network's fast-gradient-sign adversarial example of the images (Goodfellow et al.
    2015; deep co-training's generator, Qiao et al. 2018, section 3.2),

        g_i(x) = x + epsilon sign(grad_x sum_n CE(f_i(x)_n, labels_i_n)),

    in the images' own scale ([0, 1], not clipped), computed in training mode without dropout and returned
    under stop_gradient (a fixed input of the loss, as in adversarial training)."""

    def summed_cross_entropy(pair_of_images):
        outputs, _ = forward(network, variables, pair_of_images, method="pair")
        return sum(
            optax.softmax_cross_entropy_with_integer_labels(outputs[name].astype(jnp.float32), target).sum()
            for name, target in zip(("first", "second"), labels, strict=True)
        )

    gradients = jax.grad(summed_cross_entropy)((images, images))
    return tuple(jax.lax.stop_gradient(images + epsilon * jnp.sign(g)) for g in gradients)
