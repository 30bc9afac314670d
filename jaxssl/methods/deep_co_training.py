"""Deep co-training (Qiao et al. 2018, "Deep Co-Training for Semi-Supervised Image Recognition"): two networks
on the same view agree on the unlabelled rows while each resists the other's adversarial examples."""

import jax
import jax.numpy as jnp
import optax

from jaxssl import losses
from jaxssl.methods.co_training import pair_network, supervised_pair_terms
from jaxssl.methods.forward import dropout_rngs, forward
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.methods.semisup import check_semisupervised, sigmoid_ramp


def make(context: MethodContext, *, cot_weight=10.0, dif_weight=0.5, epsilon=0.02, ramp_up_steps=0) -> Method:
    """The pair of networks of co-training (methods.co_training.pair_network), both on views[0], the first B_l
    rows labelled, and (eq. 2-6)

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
    BatchNorm statistics are kept. "agreement" logs how often the two predict the same class of an
    unlabelled row."""
    check_semisupervised(context, "deep_co_training")
    if min(cot_weight, dif_weight, epsilon) < 0:
        raise ValueError(
            f"deep_co_training's cot_weight, dif_weight and epsilon must be >= 0, got {cot_weight}, "
            f"{dif_weight}, {epsilon}"
        )
    network = pair_network(context)
    labelled = context.labelled_batch

    def loss(params, inputs: LossInputs):
        view = inputs.views[0]
        variables = {"params": params, "batch_stats": inputs.batch_stats}
        outputs, batch_stats = forward(network, variables, (view, view), dropout_rngs(inputs.key, 0), "pair")
        first, second = outputs["first"], outputs["second"]
        labels = inputs.labels[:labelled]
        supervised, first_top1, agreement = supervised_pair_terms(first, second, labels)
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

    return Method(name="deep_co_training", network=network, loss=loss)


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
