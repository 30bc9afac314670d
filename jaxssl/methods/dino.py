"""DINO (Caron et al. 2021): a student matches the centred, sharpened output of its EMA teacher."""

import functools
import itertools
import math

import jax
import jax.numpy as jnp

from jaxssl import ema, losses
from jaxssl.methods.forward import forward_views
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.heads import DINOHead

NUM_GLOBAL_CROPS = 2  # the teacher sees the two global crops only (section 3.1)
# How the teacher's logits become targets: DINO's EMA centre (eq. 4), or DINOv2's Sinkhorn-Knopp codes
# (Oquab et al. 2023, section 4, the batch normalisation of SwAV).
CENTERINGS = ("ema", "sinkhorn_knopp")


def check_dinov2_options(
    context: MethodContext, centering: str, koleo_weight: float, koleo_groups: int
) -> None:
    """ValueError, before anything compiles, for an unknown centering or a KoLeo term that is undefined: its
    nearest neighbours are searched within each of koleo_groups equal groups of the global batch, so each
    group needs at least 2 rows."""
    if centering not in CENTERINGS:
        raise ValueError(f"centering must be one of {CENTERINGS}, got {centering!r}")
    if koleo_weight < 0:
        raise ValueError(f"koleo_weight must be >= 0, got {koleo_weight!r}")
    if koleo_weight == 0:
        return
    batch = context.global_batch
    if not isinstance(koleo_groups, int) or koleo_groups < 1 or batch % koleo_groups:
        raise ValueError(
            f"koleo_groups must be an int >= 1 dividing the global batch {batch}, got {koleo_groups!r}"
        )
    if batch // koleo_groups < 2:
        raise ValueError(
            f"KoLeo needs at least 2 rows per group to find a nearest neighbour: a global batch of {batch} in "
            f"koleo_groups={koleo_groups} gives {batch // koleo_groups}; use fewer groups or koleo_weight=0"
        )


def teacher_targets(
    teacher_logits: list[jax.Array], center: jax.Array, temperature, centering: str, iterations: int
) -> list[jax.Array]:
    """The teacher's distributions over the K prototypes, one per array of `teacher_logits` (each (..., K)):
    softmax((t - center) / temperature) with the EMA centre, or with "sinkhorn_knopp" the Sinkhorn-Knopp codes
    of all their rows together (losses.sinkhorn with epsilon = temperature: every prototype receives an equal
    share of the rows), DINOv2's centering (Oquab et al. 2023, section 4)."""
    if centering == "ema":
        return [losses.centered_softmax(t, center, temperature) for t in teacher_logits]
    rows = [t.reshape(-1, t.shape[-1]) for t in teacher_logits]
    codes = losses.sinkhorn(jnp.concatenate(rows, axis=0), temperature, iterations)
    ends = list(itertools.accumulate(len(r) for r in rows))
    return [c.reshape(t.shape) for c, t in zip(jnp.split(codes, ends[:-1]), teacher_logits, strict=True)]


def koleo_term(features: list[jax.Array], groups: int) -> jax.Array:
    """DINOv2's KoLeo regulariser on the student's features of each global crop (section 4): summed over the
    crops, each the mean over `groups` equal groups of the batch of losses.koleo within the group (the released
    code computes it per GPU on its own rows; fixed groups keep it independent of the device count)."""
    total = 0.0
    for crop in features:
        grouped = crop.reshape(groups, crop.shape[0] // groups, crop.shape[-1])
        total = total + jnp.mean(jax.vmap(losses.koleo)(grouped))
    return total


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
    centering: str = "ema",
    sinkhorn_iterations: int = 3,
    koleo_weight: float = 0.0,
    koleo_groups: int = 1,
) -> Method:
    """Head: 3-layer MLP with GELU to a 256-d bottleneck, L2 normalisation, a weight-normalised last layer to
    out_dim logits (section 3.1, appendix). The teacher is the student's EMA (momentum raised from
    base_momentum to 1 by a cosine) and sees the global crops; the student sees every crop (multicrop
    preset). Loss (eq. 1-3): cross entropy from softmax((teacher - centre) / teacher_temp) to the student's
    softmax(s / student_temp) over all (global crop, other crop) pairs. The centre (state.extra) is an EMA
    of the teacher's batch mean (eq. 4); the teacher temperature rises linearly from warmup_teacher_temp
    to teacher_temp over warmup_teacher_temp_epochs; the last layer is not updated for the first
    freeze_last_layer_epochs (the released code's cancel_gradients_last_layer; Method.frozen).
    DINOv2's additions (Oquab et al. 2023, section 4): centering="sinkhorn_knopp" replaces the centre by
    sinkhorn_iterations of Sinkhorn-Knopp on the teacher's logits at the teacher temperature (no state is
    kept), and koleo_weight > 0 adds that multiple of the KoLeo regulariser on the student's backbone features
    of the global crops, within koleo_groups groups of the batch (koleo_term)."""
    check_dinov2_options(context, centering, koleo_weight, koleo_groups)
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
        center = inputs.extra.get("center")
        targets = teacher_targets(teacher_logits, center, temperature, centering, sinkhorn_iterations)
        distillation = losses.self_distillation([out["projection"] for out in student], targets, student_temp)
        metrics = {
            "dino": distillation,
            "teacher_temp": temperature,
            "last_layer_frozen": frozen.astype(jnp.float32),
        }
        value = distillation
        if koleo_weight > 0:
            metrics["koleo"] = koleo_term(
                [out["features"] for out in student[:NUM_GLOBAL_CROPS]], koleo_groups
            )
            value = value + koleo_weight * metrics["koleo"]
        return value, LossAux(
            batch_stats=batch_stats,
            metrics=metrics,
            features=student[0]["features"],
            extra=None
            if center is None
            else {"center": losses.dino_center(center, teacher_logits, center_momentum)},
        )

    return Method(
        name="dino",
        network=network,
        loss=loss,
        target_decay=functools.partial(ema.cosine_tau, base_tau=base_momentum),
        init_extra=(lambda key: {"center": jnp.zeros((out_dim,), jnp.float32)})
        if centering == "ema"
        else None,
        frozen=(("projector/last_layer", math.ceil(freeze_steps)),) if freeze_steps > 0 else (),
    )
