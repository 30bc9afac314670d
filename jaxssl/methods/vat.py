"""VAT + EntMin (Miyato et al. 2018, "Virtual Adversarial Training: A Regularization Method for Supervised and
Semi-Supervised Learning"): the prediction kept smooth in its most sensitive input direction, found by a power
iteration inside the step, plus Grandvalet and Bengio's entropy minimisation on the unlabelled rows."""

import jax
import jax.numpy as jnp

from jaxssl import losses
from jaxssl.methods.forward import dropout_rngs, forward
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.methods.semisup import check_semisupervised, classifier_network, with_labelled_rows

DIRECTION_KEY = 0


def make(
    context: MethodContext, *, epsilon=8.0, xi=1e-3, iterations=1, vat_weight=1.0, entropy_weight=1.0
) -> Method:
    """Per step, one (weak) view of every row through the network in one batch, the first B_l rows labelled:

        L = CE(labelled logits, labels) + alpha virtual_adversarial_loss(logits, f(x + r_adv))
            + beta prediction_entropy(unlabelled logits),

    alpha `vat_weight` (the paper's 1) over every row, labelled ones included (the paper's R_vadv over D_l and
    D_ul), beta `entropy_weight` (1 in VAT + EntMin) on the unlabelled rows. r_adv is
    losses.virtual_adversarial_perturbation of the batch: `iterations` power iterations from a Gaussian
    direction (drawn from the loss key) with finite difference `xi`, scaled to `epsilon`, computed with
    jax.grad on the network under stop_gradient, in training mode, its BatchNorm updates dropped (so the clean
    logits and the perturbed ones share a batch composition and differ only by r). r lives in the network's
    standardised input, (x - mean) / std, where the paper's inputs were ZCA-whitened: images in [0, 1] move by
    r x std. Only the clean forward's BatchNorm statistics are kept; the online weights are evaluated, as the
    paper's.

    xi: the paper's 1e-6 is below what float32 resolves once spread over an image (1e-6 / sqrt(784) per value
    on Fashion-MNIST): x + xi d rounds back to x for most values, and g is mostly rounding noise. 1e-3 finds
    the direction of the exact Hessian-vector product (docs/semi-supervised.md has the measurement). For the
    same reason a dtype other than float32 is refused."""
    check_semisupervised(context, "vat")
    if not epsilon > 0:
        raise ValueError(f"vat's epsilon (the perturbation's norm) must be > 0, got {epsilon}")
    if not xi > 0:
        raise ValueError(f"vat's xi (the power iteration's finite difference) must be > 0, got {xi}")
    if not (isinstance(iterations, int) and iterations >= 1):
        raise ValueError(f"vat's iterations (power iterations) must be an int >= 1, got {iterations!r}")
    if min(vat_weight, entropy_weight) < 0:
        raise ValueError(
            f"vat's vat_weight and entropy_weight must be >= 0, got {vat_weight}, {entropy_weight}"
        )
    if jnp.dtype(context.dtype) != jnp.float32:
        raise ValueError(
            f"vat's power iteration moves the input by xi = {xi}, which {jnp.dtype(context.dtype).name} does "
            "not resolve (its direction would be rounding noise): train VAT in float32 (config.train.dtype)"
        )
    network = classifier_network(context)
    labelled = context.labelled_batch
    image_std = jnp.asarray(context.image_std, jnp.float32)

    def loss(params, inputs: LossInputs):
        (view,) = inputs.views
        variables = {"params": params, "batch_stats": inputs.batch_stats}
        outputs, batch_stats = forward(network, variables, view, dropout_rngs(inputs.key, 0))
        logits = outputs["logits"]
        supervised, labelled_top1 = losses.hard_label_cross_entropy(
            logits[:labelled], inputs.labels[:labelled]
        )
        fixed = jax.lax.stop_gradient(variables)

        def perturbed_logits(r):
            return forward(network, fixed, view + r * image_std)[0]["logits"]

        direction = jax.random.normal(jax.random.fold_in(inputs.key, DIRECTION_KEY), view.shape, jnp.float32)
        r_adv = losses.virtual_adversarial_perturbation(
            perturbed_logits, logits, direction, xi, epsilon, iterations
        )
        adversarial, _ = forward(network, variables, view + r_adv * image_std, dropout_rngs(inputs.key, 1))
        smoothness = losses.virtual_adversarial_loss(logits, adversarial["logits"])
        entropy = losses.prediction_entropy(logits[labelled:])
        predicted = jnp.argmax(jax.lax.stop_gradient(logits[labelled:]), axis=-1)
        return supervised + vat_weight * smoothness + entropy_weight * entropy, LossAux(
            batch_stats=batch_stats,
            metrics={
                "supervised_ce": supervised,
                "vat_kl": smoothness,
                "entropy": entropy,
                "labelled_top1": labelled_top1,
            },
            features=outputs["features"],
            pseudo_labels=with_labelled_rows(labelled, predicted),
        )

    return Method(name="vat", network=network, loss=loss)
