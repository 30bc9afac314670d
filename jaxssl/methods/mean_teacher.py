"""Mean Teacher (Tarvainen and Valpola 2017, "Mean teachers are better role models: Weight-averaged
consistency targets improve semi-supervised deep learning results")."""

import jax
import jax.numpy as jnp

from jaxssl import losses
from jaxssl.methods.forward import dropout_rngs, forward
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.methods.semisup import (
    check_semisupervised,
    classifier_network,
    sigmoid_ramp,
    with_labelled_rows,
)


def make(
    context: MethodContext,
    *,
    consistency_weight=100.0,
    ramp_up_steps=0,
    ema_during_ramp_up=0.99,
    ema=0.999,
) -> Method:
    """Per step (paper, section 2 and appendix B): the student sees views[0] of every row (a weak view with
    Gaussian input noise, the `weak` preset with noise_std), the teacher, the EMA of the student's weights,
    sees views[1] (another draw of the same augmentation), and

        L = CE(student logits of the labelled rows, labels)
            + consistency_weight x sigmoid_ramp(t, ramp_up_steps) x consistency_mse(student logits, teacher p)

    over every row, labelled ones included (the consistency cost needs no label). The teacher runs with
    batch statistics and no dropout of its own (its BatchNorm statistics follow the student's by the EMA),
    under stop_gradient. Its decay is `ema_during_ramp_up` (0.99) while the weight ramps up and `ema` (0.999)
    after (the paper's CIFAR-10 setting); the teacher is the evaluated network."""
    check_semisupervised(context, "mean_teacher")
    if not (0.0 <= ema_during_ramp_up < 1.0 and 0.0 <= ema < 1.0):
        raise ValueError(f"mean_teacher's EMA decays must lie in [0, 1), got {ema_during_ramp_up}, {ema}")
    if consistency_weight < 0:
        raise ValueError(f"mean_teacher's consistency_weight must be >= 0, got {consistency_weight}")
    network = classifier_network(context)
    labelled = context.labelled_batch

    def target_decay(step, total_steps):
        return jnp.where(jnp.asarray(step) < ramp_up_steps, ema_during_ramp_up, ema).astype(jnp.float32)

    def loss(params, inputs: LossInputs):
        student_view, teacher_view = inputs.views
        outputs, batch_stats = forward(
            network,
            {"params": params, "batch_stats": inputs.batch_stats},
            student_view,
            dropout_rngs(inputs.key, 0),
        )
        teacher, _ = forward(network, inputs.target, teacher_view)
        teacher_probs = jax.nn.softmax(jax.lax.stop_gradient(teacher["logits"]).astype(jnp.float32), axis=-1)
        logits = outputs["logits"]
        supervised, labelled_top1 = losses.hard_label_cross_entropy(
            logits[:labelled], inputs.labels[:labelled]
        )
        consistency = losses.consistency_mse(logits, teacher_probs)
        weight = consistency_weight * sigmoid_ramp(inputs.step, ramp_up_steps)
        teacher_labels = jnp.argmax(teacher_probs[labelled:], axis=-1)
        return supervised + weight * consistency, LossAux(
            batch_stats=batch_stats,
            metrics={
                "supervised_ce": supervised,
                "consistency_mse": consistency,
                "consistency_weight": weight,
                "labelled_top1": labelled_top1,
            },
            features=outputs["features"],
            pseudo_labels=with_labelled_rows(labelled, teacher_labels),
        )

    return Method(
        name="mean_teacher", network=network, loss=loss, target_decay=target_decay, eval_weights="target"
    )
