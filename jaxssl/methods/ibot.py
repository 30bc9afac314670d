"""iBOT (Zhou et al. 2022, "iBOT: Image BERT Pre-Training with Online Tokenizer"): DINO's [CLS] self-distillation
plus masked image modelling by self-distillation, the EMA teacher's patch tokens on the unmasked view being the
targets of the student's masked ones; DINOv2's KoLeo and Sinkhorn-Knopp centering as options."""

import functools
import math

import jax
import jax.numpy as jnp

from jaxssl import ema, losses
from jaxssl.methods.dino import NUM_GLOBAL_CROPS, check_dinov2_options, koleo_term, teacher_targets
from jaxssl.methods.forward import dropout_rngs
from jaxssl.methods.mae import vit_of
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.heads import DINOHead
from jaxssl.models.ibot import IBOTNetwork

# BEiT's block-wise masking (Bao et al. 2022, algorithm 1): blocks of at least 16 of the 14 x 14 patches with
# an aspect ratio in (0.3, 1 / 0.3); the least block scales with the grid here.
MIN_BLOCK_FRACTION = 16 / 196
BLOCK_ASPECT = (0.3, 1 / 0.3)
BLOCK_ATTEMPTS = 32  # block draws per image, each kept only if it adds patches without passing the target


def check_mask_options(mask_ratio, mask_probability: float) -> tuple[float, float]:
    """(low, high) of the per-image mask ratio, or ValueError for a range outside (0, 1) or a probability
    outside (0, 1]."""
    if not hasattr(mask_ratio, "__len__") or len(mask_ratio) != 2:
        raise ValueError(f"mask_ratio must be a (low, high) pair in (0, 1), got {mask_ratio!r}")
    low, high = (float(r) for r in mask_ratio)
    if not 0.0 < low <= high < 1.0:
        raise ValueError(
            f"mask_ratio must be a (low, high) pair with 0 < low <= high < 1, got {mask_ratio!r}"
        )
    if not 0.0 < mask_probability <= 1.0:
        raise ValueError(f"mask_probability must be in (0, 1], got {mask_probability!r}")
    return low, high


def blockwise_masks(
    key: jax.Array,
    batch: int,
    grid: int,
    ratio: tuple[float, float],
    probability: float,
    min_block: int,
    attempts: int = BLOCK_ATTEMPTS,
) -> jax.Array:
    """iBOT's masks (section 3 and appendix: BEiT's block-wise masking, the ratio drawn per image): each image
    is masked with `probability`; a masked one draws r ~ U(ratio) and a target of floor(r L) of its L = grid^2
    patches, then `attempts` rectangles (area ~ U(min_block, what is left of the target), log aspect ratio ~
    U(log 0.3, log 1/0.3), a random place on the grid), each kept only when it adds at least one patch and
    does not pass the target (BEiT's rule). Returns (batch, L) float32, 1 on masked patches, in row-major
    order as the ViT's tokens; static shapes, so a run compiles once."""
    length = grid * grid
    keys = jax.random.split(key, 3)
    chosen = jax.random.uniform(keys[0], (batch,)) < probability
    ratios = jax.random.uniform(keys[1], (batch,), minval=ratio[0], maxval=ratio[1])
    targets = jnp.where(chosen, jnp.floor(ratios * length), 0.0)
    draws = jax.random.uniform(keys[2], (attempts, 4, batch))
    rows = jnp.arange(grid)[:, None]
    cols = jnp.arange(grid)[None, :]
    log_low, log_high = math.log(BLOCK_ASPECT[0]), math.log(BLOCK_ASPECT[1])

    def add_block(mask, draw):
        count = jnp.sum(mask, axis=(1, 2))
        left_over = targets - count
        area = min_block + draw[0] * jnp.maximum(left_over - min_block, 0.0)
        aspect = jnp.exp(log_low + draw[1] * (log_high - log_low))
        height = jnp.clip(jnp.round(jnp.sqrt(area * aspect)), 1, grid).astype(jnp.int32)
        width = jnp.clip(jnp.round(jnp.sqrt(area / aspect)), 1, grid).astype(jnp.int32)
        top = jnp.floor(draw[2] * (grid - height + 1)).astype(jnp.int32)
        left = jnp.floor(draw[3] * (grid - width + 1)).astype(jnp.int32)
        inside = (
            (rows >= top[:, None, None])
            & (rows < (top + height)[:, None, None])
            & (cols >= left[:, None, None])
            & (cols < (left + width)[:, None, None])
        )
        added = jnp.sum(inside & (mask == 0), axis=(1, 2))
        keep = (added > 0) & (added <= left_over)
        return jnp.where(keep[:, None, None] & inside, 1.0, mask), None

    masks, _ = jax.lax.scan(add_block, jnp.zeros((batch, grid, grid), jnp.float32), draws)
    return masks.reshape(batch, length)


def make(
    context: MethodContext,
    *,
    head_hidden_dims=(2048, 2048),
    bottleneck_dim: int = 256,
    out_dim: int = 8192,
    shared_head: bool = True,
    patch_out_dim: int = 8192,
    use_bn_in_head: bool = False,
    student_temp: float = 0.1,
    teacher_temp: float = 0.07,
    teacher_patch_temp: float = 0.07,
    warmup_teacher_temp: float = 0.04,
    warmup_teacher_patch_temp: float = 0.04,
    warmup_teacher_temp_epochs: float = 30.0,
    center_momentum: float = 0.9,
    patch_center_momentum: float = 0.9,
    base_momentum: float = 0.996,
    freeze_last_layer_epochs: float = 1.0,
    mask_ratio=(0.1, 0.5),
    mask_probability: float = 0.5,
    patch_loss_weight: float = 1.0,
    centering: str = "ema",
    sinkhorn_iterations: int = 3,
    koleo_weight: float = 0.0,
    koleo_groups: int = 1,
) -> Method:
    """DINO's heads and teacher (methods/dino.py) on a ViT, and masked-patch self-distillation (section 3):
    each global crop is masked block-wise for the student (blockwise_masks: a fraction mask_probability of the
    images, at a ratio drawn from mask_ratio), the teacher sees it unmasked. Loss = L_[CLS] + patch_loss_weight
    L_MIM: L_[CLS] is DINO's over the [CLS] head (the student's masked global crops and its small crops
    against the teacher's other global crop), L_MIM losses.ibot_patch on each global crop's masked patches,
    averaged over the two crops. The patch head is the [CLS] head (shared_head, iBOT's default) or a head of
    its own with patch_out_dim prototypes; the patch targets have their own EMA centre and temperature
    (warmup_teacher_patch_temp to teacher_patch_temp over warmup_teacher_temp_epochs). DINOv2's additions
    (Oquab et al. 2023, section 4): centering="sinkhorn_knopp" replaces both centres by Sinkhorn-Knopp codes
    at the teacher temperatures (for the patches, over every patch token of the teacher's global crops, the
    rows iBOT's patch centre averages; DINOv2's released code balances the masked tokens only), koleo_weight
    adds KoLeo on the student's pooled features of the global crops (the [CLS] token with the default pool).
    The online probe reads the student's features of the first global crop, masked as the student saw it."""
    vit = vit_of(context, "ibot")
    ratio = check_mask_options(mask_ratio, mask_probability)
    check_dinov2_options(context, centering, koleo_weight, koleo_groups)
    if shared_head and patch_out_dim != out_dim:
        raise ValueError(
            f"shared_head=True gives the patch tokens the [CLS] head and its out_dim {out_dim}; "
            f"patch_out_dim={patch_out_dim} needs shared_head=False"
        )
    grid = vit.image_size // vit.patch_size
    min_block = max(1, round(MIN_BLOCK_FRACTION * grid * grid))
    head = functools.partial(
        DINOHead,
        hidden_dims=tuple(head_hidden_dims),
        bottleneck_dim=bottleneck_dim,
        use_bn=use_bn_in_head,
        dtype=context.dtype,
    )
    network = IBOTNetwork(
        backbone=vit,
        projector=head(out_dim=out_dim),
        patch_projector=None if shared_head else head(out_dim=patch_out_dim),
        image_mean=tuple(context.image_mean),
        image_std=tuple(context.image_std),
    )
    freeze_steps = freeze_last_layer_epochs * context.steps_per_epoch
    warmup_steps = warmup_teacher_temp_epochs * context.steps_per_epoch

    def forward(variables, images, key=None, group=0, **kwargs):
        outputs, updates = network.apply(
            variables, images, train=True, mutable=["batch_stats"], rngs=dropout_rngs(key, group), **kwargs
        )
        return outputs, updates.get("batch_stats", {})

    def loss(params, inputs: LossInputs):
        batch = inputs.views[0].shape[0]
        global_crops = jnp.concatenate(inputs.views[:NUM_GLOBAL_CROPS])
        mask = blockwise_masks(
            jax.random.fold_in(inputs.key, 0),
            NUM_GLOBAL_CROPS * batch,
            grid,
            ratio,
            mask_probability,
            min_block,
        )
        variables = {"params": params, "batch_stats": inputs.batch_stats}
        student, batch_stats = forward(variables, global_crops, inputs.key, 0, mask=mask)
        student_logits = jnp.split(student["projection"], NUM_GLOBAL_CROPS)
        small_crops = inputs.views[NUM_GLOBAL_CROPS:]
        if small_crops:
            variables = {"params": params, "batch_stats": batch_stats}
            small, batch_stats = forward(
                variables, jnp.concatenate(small_crops), inputs.key, 1, patches=False
            )
            student_logits += jnp.split(small["projection"], len(small_crops))
        teacher, _ = forward(inputs.target, global_crops)
        teacher = jax.lax.stop_gradient(teacher)
        teacher_logits = jnp.split(teacher["projection"], NUM_GLOBAL_CROPS)
        teacher_patches = teacher["patch_projection"]
        temperature = losses.teacher_temperature(inputs.step, warmup_steps, warmup_teacher_temp, teacher_temp)
        patch_temperature = losses.teacher_temperature(
            inputs.step, warmup_steps, warmup_teacher_patch_temp, teacher_patch_temp
        )
        center, patch_center = inputs.extra.get("center"), inputs.extra.get("patch_center")
        cls_targets = teacher_targets(teacher_logits, center, temperature, centering, sinkhorn_iterations)
        (patch_targets,) = teacher_targets(
            [teacher_patches], patch_center, patch_temperature, centering, sinkhorn_iterations
        )
        cls_value = losses.self_distillation(student_logits, cls_targets, student_temp)
        patch_value = (
            sum(
                losses.masked_self_distillation(s, t, m, student_temp)
                for s, t, m in zip(
                    jnp.split(student["patch_projection"], NUM_GLOBAL_CROPS),
                    jnp.split(patch_targets, NUM_GLOBAL_CROPS),
                    jnp.split(mask, NUM_GLOBAL_CROPS),
                    strict=True,
                )
            )
            / NUM_GLOBAL_CROPS
        )
        value = cls_value + patch_loss_weight * patch_value
        metrics = {
            "ibot_cls": cls_value,
            "ibot_patch": patch_value,
            "masked_fraction": jnp.mean(mask),
            "teacher_temp": temperature,
            "last_layer_frozen": (inputs.step < freeze_steps).astype(jnp.float32),
        }
        if koleo_weight > 0:
            metrics["koleo"] = koleo_term(jnp.split(student["features"], NUM_GLOBAL_CROPS), koleo_groups)
            value = value + koleo_weight * metrics["koleo"]
        extra = None
        if centering == "ema":
            patch_rows = teacher_patches.reshape(-1, teacher_patches.shape[-1])
            extra = {
                "center": losses.dino_center(center, teacher_logits, center_momentum),
                "patch_center": losses.dino_center(patch_center, [patch_rows], patch_center_momentum),
            }
        return value, LossAux(
            batch_stats=batch_stats, metrics=metrics, features=student["features"][:batch], extra=extra
        )

    def init_extra(key):
        return {
            "center": jnp.zeros((out_dim,), jnp.float32),
            "patch_center": jnp.zeros((patch_out_dim,), jnp.float32),
        }

    freeze = math.ceil(freeze_steps)
    heads = ("projector",) if shared_head else ("projector", "patch_projector")
    return Method(
        name="ibot",
        network=network,
        loss=loss,
        target_decay=functools.partial(ema.cosine_tau, base_tau=base_momentum),
        init_extra=init_extra if centering == "ema" else None,
        frozen=tuple((f"{name}/last_layer", freeze) for name in heads) if freeze_steps > 0 else (),
    )
