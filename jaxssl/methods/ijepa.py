"""I-JEPA (Assran et al. 2023, "Self-Supervised Learning from Images with a Joint-Embedding Predictive
Architecture"): from one context block, a narrow predictor regresses the EMA target encoder's features of
four target blocks."""

import functools

import jax

from jaxssl import ema, losses, masking
from jaxssl.losses.jepa import DISTANCES
from jaxssl.methods.forward import dropout_rngs
from jaxssl.methods.mae import vit_of
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.jepa import IJEPANetwork

CONTEXT_ASPECT = (1.0, 1.0)  # the context block is square (section 3, "Context")


def token_grid(context: MethodContext, method: str) -> tuple[int, int]:
    """The (h, w) token grid of the context's views, which the ViT's patches must tile."""
    patch = vit_of(context, method).patch_size
    if context.image_size % patch:
        raise ValueError(f"{method}: patch_size {patch} does not divide the views' size {context.image_size}")
    return (context.image_size // patch,) * 2


def make(
    context: MethodContext,
    *,
    num_targets: int = 4,
    target_scale=(0.15, 0.2),
    target_aspect=(0.75, 1.5),
    context_scale=(0.85, 1.0),
    min_keep: int = 10,
    predictor_dim: int = 0,
    predictor_depth: int = 12,
    predictor_heads: int = 0,
    distance: str = "smooth_l1",
    base_momentum: float = 0.996,
) -> Method:
    """Per step (section 3): each image draws multi-block masks (`masking.multiblock_masks`: num_targets
    blocks of target_scale and target_aspect, a square context block of context_scale less the targets,
    exactly min_keep context tokens); the ViT encodes the context tokens only; the predictor (predictor_dim
    wide, half the encoder's by default (0); predictor_heads, the encoder's by default (0)) predicts each
    block's tokens from them; the target is the EMA encoder's output on the whole image, normalised per token.
    Loss: `losses.ijepa` with `distance` ("smooth_l1", or the paper's "l2"). The EMA's momentum rises from
    base_momentum to 1 by a cosine (the paper's rises linearly); the paper evaluates the target encoder, and
    so does this method (Method.eval_weights)."""
    vit = vit_of(context, "ijepa")
    grid = token_grid(context, "ijepa")
    sizes = masking.check_multiblock(
        grid,
        num_targets,
        tuple(target_scale),
        tuple(target_aspect),
        tuple(context_scale),
        CONTEXT_ASPECT,
        min_keep,
    )
    if distance not in DISTANCES:
        raise ValueError(f"ijepa: unknown distance {distance!r}; choose from {DISTANCES}")
    draw_masks = functools.partial(
        masking.multiblock_masks,
        grid=grid,
        num_targets=num_targets,
        target_scale=tuple(target_scale),
        target_aspect=tuple(target_aspect),
        context_scale=tuple(context_scale),
        min_keep=min_keep,
        context_aspect=CONTEXT_ASPECT,
    )
    network = IJEPANetwork(
        backbone=vit,
        predictor_dim=predictor_dim or vit.dim // 2,
        predictor_depth=predictor_depth,
        predictor_heads=predictor_heads or vit.heads,
        image_mean=tuple(context.image_mean),
        image_std=tuple(context.image_std),
    )

    def loss(params, inputs: LossInputs):
        images = inputs.views[0]
        keys = jax.random.split(jax.random.fold_in(inputs.key, 1), images.shape[0])
        context_masks, target_masks = jax.vmap(draw_masks)(keys)
        context_ids = masking.mask_indices(context_masks, min_keep)
        target_ids = masking.mask_indices(target_masks, sizes.target_tokens)
        outputs = network.apply(
            {"params": params},
            images,
            train=True,
            context_ids=context_ids,
            target_ids=target_ids,
            rngs=dropout_rngs(inputs.key, 0),
        )
        targets = network.apply(
            {"params": inputs.target["params"]}, images, train=False, method=IJEPANetwork.target_tokens
        )
        value = losses.ijepa(outputs["pred"], targets, target_ids, distance)
        return value, LossAux(batch_stats={}, metrics={"ijepa": value}, features=outputs["features"])

    return Method(
        name="ijepa",
        network=network,
        loss=loss,
        target_decay=functools.partial(ema.cosine_tau, base_tau=base_momentum),
        eval_weights="target",
    )
