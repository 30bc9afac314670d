"""Pseudo-label (Lee 2013, "Pseudo-Label: The Simple and Efficient Semi-Supervised Learning Method for Deep
Neural Networks"): the network's own confident predictions on unlabelled rows, as hard labels."""

from jaxssl import losses
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.methods.semisup import (
    check_semisupervised,
    classifier_network,
    linear_ramp,
    one_view_forward,
    with_labelled_rows,
)


def make(
    context: MethodContext, *, threshold=0.95, unlabelled_weight=3.0, ramp_start_steps=0, ramp_end_steps=0
) -> Method:
    """Per step: one (weak) view of every row through the network in one batch, and (paper, eq. 15-16)

        L = CE(labelled logits, labels) + alpha(t) fixmatch_unlabelled(logits_u, logits_u, threshold),
        alpha(t) = unlabelled_weight x linear_ramp(t, ramp_start_steps, ramp_end_steps),

    the pseudo-label of an unlabelled row being the class of its largest output in the same forward, not
    differentiated, kept only above `threshold` (0 keeps every row, as the paper; 0.95 is the threshold of
    the USB and TorchSSL baselines). The paper's alpha_f = 3 is reached between T1 and T2 epochs (100 and 600
    there): ramp_start_steps and ramp_end_steps in steps here. Evaluated on the online weights, as the paper."""
    check_semisupervised(context, "pseudo_label")
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"pseudo_label's confidence threshold must lie in [0, 1], got {threshold}")
    if not 0 <= ramp_start_steps <= ramp_end_steps:
        raise ValueError(
            f"need 0 <= ramp_start_steps <= ramp_end_steps, got {ramp_start_steps}, {ramp_end_steps}"
        )
    network = classifier_network(context)
    labelled = context.labelled_batch

    def loss(params, inputs: LossInputs):
        outputs, batch_stats, supervised, labelled_top1 = one_view_forward(network, params, inputs, labelled)
        logits = outputs["logits"]
        unlabelled, mask_rate = losses.fixmatch_unlabelled(logits[labelled:], logits[labelled:], threshold)
        weight = unlabelled_weight * linear_ramp(inputs.step, ramp_start_steps, ramp_end_steps)
        pseudo_labels, _ = losses.confident_pseudo_labels(logits[labelled:], threshold)
        return supervised + weight * unlabelled, LossAux(
            batch_stats=batch_stats,
            metrics={
                "supervised_ce": supervised,
                "unlabelled_ce": unlabelled,
                "unlabelled_weight": weight,
                "mask_rate": mask_rate,
                "labelled_top1": labelled_top1,
            },
            features=outputs["features"],
            pseudo_labels=with_labelled_rows(labelled, pseudo_labels),
        )

    return Method(name="pseudo_label", network=network, loss=loss)
