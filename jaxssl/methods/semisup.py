"""What the semi-supervised methods share: their checks, network, EMA and ramp-ups."""

import jax.numpy as jnp

from jaxssl import losses
from jaxssl.methods.forward import dropout_rngs, forward
from jaxssl.methods.method import LossInputs, MethodContext
from jaxssl.models.network import ClassifierNetwork


def check_semisupervised(context: MethodContext, name: str) -> None:
    """A semi-supervised method needs labelled and unlabelled rows in its batch (config.semisup) and classes."""
    if context.labelled_batch < 1 or context.labelled_batch >= context.global_batch:
        raise ValueError(
            f"{name} trains on labelled and unlabelled rows: set config.semisup (the labelled subset and mu); "
            f"this run's batch has {context.labelled_batch} labelled rows of {context.global_batch}"
        )
    if context.num_classes < 2:
        raise ValueError(f"{name} needs a dataset with classes; this one has {context.num_classes}")


def ema_decay(decay: float):
    """target_decay of a constant EMA of the weights: the evaluation model of FixMatch, MixMatch and Mean
    Teacher."""
    return lambda step, total_steps: jnp.asarray(decay, jnp.float32)


def classifier_network(context: MethodContext, dropout: float = 0.0) -> ClassifierNetwork:
    """The context's backbone behind its input normalisation, and a linear classifier of its classes (with
    `dropout` on its input in training)."""
    return ClassifierNetwork(
        backbone=context.backbone,
        num_classes=context.num_classes,
        image_mean=tuple(context.image_mean),
        image_std=tuple(context.image_std),
        dropout=dropout,
    )


def one_view_forward(network, params, inputs: LossInputs, labelled: int):
    """(outputs, batch_stats, CE of the first `labelled` rows, their top-1) of the network on the batch's only
    view in training mode, with the loss key's dropout stream: the step of pseudo-label and Noisy Student."""
    (view,) = inputs.views
    outputs, batch_stats = forward(
        network, {"params": params, "batch_stats": inputs.batch_stats}, view, dropout_rngs(inputs.key, 0)
    )
    supervised, top1 = losses.hard_label_cross_entropy(outputs["logits"][:labelled], inputs.labels[:labelled])
    return outputs, batch_stats, supervised, top1


def weak_strong_forward(network, params, inputs: LossInputs, labelled: int):
    """(outputs, batch_stats, rows) of the network in training mode, with the loss key's dropout stream, on
    the weak views of every row followed by the strong views of the unlabelled ones (one BatchNorm batch, as
    FixMatch's reference): outputs' rows [:labelled] are the labelled rows, [labelled:rows] the unlabelled
    rows' weak views and [rows:] their strong views. The step of FixMatch and UDA."""
    weak, strong = inputs.views
    outputs, batch_stats = forward(
        network,
        {"params": params, "batch_stats": inputs.batch_stats},
        jnp.concatenate([weak, strong[labelled:]], axis=0),
        dropout_rngs(inputs.key, 0),
    )
    return outputs, batch_stats, weak.shape[0]


def linear_ramp(step, start: int, end: int) -> jnp.ndarray:
    """0 before step `start`, rising linearly to 1 at `end`, 1 after (Lee 2013, eq. 16: alpha(t) of
    pseudo-label, with T1 = start and T2 = end; MixMatch's lambda_U ramp-up with start 0)."""
    step = jnp.asarray(step, jnp.float32)
    return jnp.clip((step - start) / max(end - start, 1), 0.0, 1.0)


def sigmoid_ramp(step, length: int) -> jnp.ndarray:
    """exp(-5 (1 - t)^2), t = min(step / length, 1): the ramp-up of Laine and Aila (2017) that Mean Teacher
    uses for its consistency weight (Tarvainen and Valpola 2017, appendix B)."""
    t = jnp.clip(jnp.asarray(step, jnp.float32) / max(length, 1), 0.0, 1.0)
    return jnp.exp(-5.0 * jnp.square(1.0 - t))


def with_labelled_rows(labelled: int, unlabelled_pseudo_labels) -> jnp.ndarray:
    """LossAux.pseudo_labels of a whole batch: -1 on its `labelled` first rows (they have their labels),
    then the pseudo-labels of the unlabelled rows, as int32."""
    pseudo = jnp.asarray(unlabelled_pseudo_labels, jnp.int32)
    return jnp.concatenate([jnp.full((labelled,), -1, jnp.int32), pseudo])
