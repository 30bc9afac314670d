"""UDA (Xie et al. 2020, "Unsupervised Data Augmentation for Consistency Training"): the RandAugment view's
prediction pulled toward the weak view's sharpened, confident one, with training-signal annealing of the
labelled rows."""

import jax.numpy as jnp

from jaxssl import losses
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.methods.semisup import (
    check_semisupervised,
    classifier_network,
    ema_decay,
    weak_strong_forward,
    with_labelled_rows,
)


def make(
    context: MethodContext,
    *,
    temperature=0.4,
    threshold=0.8,
    unlabelled_weight=1.0,
    tsa_schedule="none",
    tsa_steps=0,
    ema=0.999,
) -> Method:
    """Per step, FixMatch's batch and views (views[0] weak, views[1] strong: the fixmatch preset; the labelled
    rows' weak views, the unlabelled rows' weak and strong views through the network as one BatchNorm batch):

        L = annealed_cross_entropy(labelled weak logits, labels, eta_t)
            + lambda uda_unlabelled(weak_u, strong_u, tau, beta),

    tau `temperature` (0.4) sharpens the weak view's prediction, beta `threshold` (0.8) masks the rows whose
    unsharpened confidence is not above it, lambda `unlabelled_weight` (1). eta_t is tsa_threshold of
    `tsa_schedule` ("none", "linear", "log" or "exp"; "none" trains every labelled row) over `tsa_steps`
    steps: the labelled rows already predicted above eta_t are left out. The weights' EMA (`ema`, 0.999) is
    the evaluated model, as FixMatch's benchmark evaluates every method (ema = 0 evaluates the online
    weights, as the authors' code)."""
    check_semisupervised(context, "uda")
    if tsa_schedule not in losses.TSA_SCHEDULES:
        raise ValueError(
            f"uda's tsa_schedule {tsa_schedule!r} is not a training-signal annealing schedule; choose from "
            f"{sorted(losses.TSA_SCHEDULES)}"
        )
    if tsa_schedule != "none" and tsa_steps < 1:
        raise ValueError(f"uda's tsa_schedule {tsa_schedule!r} anneals over tsa_steps >= 1, got {tsa_steps}")
    if not temperature > 0:
        raise ValueError(f"uda's temperature must be > 0, got {temperature}")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"uda's confidence threshold must lie in [0, 1), got {threshold}")
    if not 0.0 <= ema < 1.0:
        raise ValueError(f"uda's ema must lie in [0, 1), got {ema}")
    network = classifier_network(context)
    labelled = context.labelled_batch

    def loss(params, inputs: LossInputs):
        outputs, batch_stats, rows = weak_strong_forward(network, params, inputs, labelled)
        logits = outputs["logits"]
        eta = losses.tsa_threshold(tsa_schedule, inputs.step, tsa_steps, context.num_classes)
        labels = inputs.labels[:labelled]
        supervised, tsa_kept = losses.annealed_cross_entropy(logits[:labelled], labels, eta)
        _, labelled_top1 = losses.hard_label_cross_entropy(logits[:labelled], labels)
        consistency, confident = losses.uda_unlabelled(
            logits[labelled:rows], logits[rows:], temperature, threshold
        )
        predicted = jnp.where(confident, jnp.argmax(logits[labelled:rows], axis=-1), -1)
        return supervised + unlabelled_weight * consistency, LossAux(
            batch_stats=batch_stats,
            metrics={
                "supervised_ce": supervised,
                "consistency_kl": consistency,
                "mask_rate": jnp.mean(confident.astype(jnp.float32)),
                "tsa_threshold": eta,
                "tsa_kept": tsa_kept,
                "labelled_top1": labelled_top1,
            },
            features=outputs["features"][:rows],
            pseudo_labels=with_labelled_rows(labelled, predicted),
        )

    return Method(name="uda", network=network, loss=loss, target_decay=ema_decay(ema), eval_weights="target")
