"""DINO (Caron et al. 2021): a student matches the centred, sharpened output of its EMA teacher."""

import functools
import math

import jax
import jax.numpy as jnp

from jaxssl import ema, losses
from jaxssl.methods.forward import forward_views
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.heads import DINOHead

NUM_GLOBAL_CROPS = 2  # the teacher sees the two global crops only (section 3.1)


def make(
    context: MethodContext,
    *,
    head_hidden_dims=(2048, 2048),
    bottleneck_dim: int = 256,
    out_dim: int = 65536,
    use_bn_in_head: bool = False,
    student_temp: float = 0.1,
    teacher_temp: float = 0.04,
    warmup_teacher_temp: float = 0.04,
    warmup_teacher_temp_epochs: float = 0.0,
    center_momentum: float = 0.9,
    base_momentum: float = 0.996,
    freeze_last_layer_epochs: float = 1.0,
) -> Method:
    """Head: 3-layer MLP with GELU to a 256-d bottleneck, L2 normalisation, a weight-normalised last layer to
    out_dim logits (section 3.1, appendix). The teacher is the student's EMA (momentum raised from
    base_momentum to 1 by a cosine) and sees the global crops; the student sees every crop (multicrop
    preset). Loss (eq. 1-3): cross entropy from softmax((teacher - centre) / teacher_temp) to the student's
    softmax(s / student_temp) over all (global crop, other crop) pairs. The centre (state.extra) is an EMA
    of the teacher's batch mean (eq. 4); the teacher temperature rises linearly from warmup_teacher_temp
    to teacher_temp over warmup_teacher_temp_epochs; the last layer is not updated for the first
    freeze_last_layer_epochs (the released code's cancel_gradients_last_layer; Method.frozen)."""
    network = context.network(
        DINOHead(
            hidden_dims=tuple(head_hidden_dims),
            bottleneck_dim=bottleneck_dim,
            out_dim=out_dim,
            use_bn=use_bn_in_head,
            dtype=context.dtype,
        )
    )
    freeze_steps = freeze_last_layer_epochs * context.steps_per_epoch
    warmup_steps = warmup_teacher_temp_epochs * context.steps_per_epoch

    def loss(params, inputs: LossInputs):
        frozen = inputs.step < freeze_steps
        student, batch_stats = forward_views(
            network, params, inputs.batch_stats, inputs.views, key=inputs.key
        )
        teacher, _ = forward_views(
            network, inputs.target["params"], inputs.target["batch_stats"], inputs.views[:NUM_GLOBAL_CROPS]
        )
        teacher_logits = [jax.lax.stop_gradient(out["projection"]) for out in teacher]
        temperature = losses.teacher_temperature(inputs.step, warmup_steps, warmup_teacher_temp, teacher_temp)
        center = inputs.extra["center"]
        value = losses.dino(
            [out["projection"] for out in student], teacher_logits, center, student_temp, temperature
        )
        return value, LossAux(
            batch_stats=batch_stats,
            metrics={
                "dino": value,
                "teacher_temp": temperature,
                "last_layer_frozen": frozen.astype(jnp.float32),
            },
            features=student[0]["features"],
            extra={"center": losses.dino_center(center, teacher_logits, center_momentum)},
        )

    return Method(
        name="dino",
        network=network,
        loss=loss,
        target_decay=functools.partial(ema.cosine_tau, base_tau=base_momentum),
        init_extra=lambda key: {"center": jnp.zeros((out_dim,), jnp.float32)},
        frozen=(("projector/last_layer", math.ceil(freeze_steps)),) if freeze_steps > 0 else (),
    )
