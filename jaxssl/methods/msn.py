"""MSN (Assran et al. 2022, "Masked Siamese Networks for Label-Efficient Learning"): a view with dropped patches
and small focal views are assigned to learned prototypes as the EMA encoder assigns the unmasked view."""

import functools

import jax

from jaxssl import ema, losses, masking
from jaxssl.methods.forward import dropout_rngs, forward_views
from jaxssl.methods.ijepa import token_grid
from jaxssl.methods.mae import vit_of
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.msn import MSNNetwork, MSNProjector, prototype_scores


def make(
    context: MethodContext,
    *,
    mask_ratio: float = 0.15,
    head_hidden_dims=(2048, 2048),
    projection_dim: int = 256,
    use_bn_in_head: bool = True,
    num_prototypes: int = 1024,
    anchor_temp: float = 0.1,
    target_temp: float = 0.025,
    sinkhorn_iterations: int = 0,
    me_max_weight: float = 1.0,
    base_momentum: float = 0.996,
) -> Method:
    """Views (multicrop preset): view 0 is the anchor, view 1 the target, views 2.. the focal views (section 3).
    The anchor keeps a random L (1 - mask_ratio) of its patch tokens (`masking.random_masking`, a static
    count); the focal views keep all of theirs. Each anchor's [CLS] goes through the projector (GELU, BatchNorm
    when use_bn_in_head) and is scored against the num_prototypes prototypes by cosine similarity; the EMA
    network (momentum from base_momentum to 1 by a cosine) projects the target view, scored against the same
    prototypes under stop_gradient. Loss: `losses.msn` with anchor_temp against `losses.msn_targets`
    (target_temp; Sinkhorn-balanced when sinkhorn_iterations > 0), me-max weight me_max_weight. Evaluation
    reads the target encoder (Method.eval_weights), the paper's choice as the recipe reads it (unverified)."""
    vit = vit_of(context, "msn")
    rows, cols = token_grid(context, "msn")
    num_patches = rows * cols
    keep = masking.keep_count(num_patches, mask_ratio)
    network = MSNNetwork(
        backbone=vit,
        projector=MSNProjector(
            hidden_dims=tuple(head_hidden_dims),
            out_dim=projection_dim,
            use_bn=use_bn_in_head,
            dtype=context.dtype,
        ),
        num_prototypes=num_prototypes,
        image_mean=tuple(context.image_mean),
        image_std=tuple(context.image_std),
    )

    def loss(params, inputs: LossInputs):
        anchor_view, target_view, *focal_views = inputs.views
        ids_keep, _, _ = masking.random_masking(
            jax.random.fold_in(inputs.key, 1), anchor_view.shape[0], num_patches, keep
        )
        anchor, updates = network.apply(
            {"params": params, "batch_stats": inputs.batch_stats},
            anchor_view,
            train=True,
            ids_keep=ids_keep,
            mutable=["batch_stats"],
            rngs=dropout_rngs(inputs.key, 0),
        )
        focal, batch_stats = forward_views(
            network,
            params,
            updates.get("batch_stats", {}),
            focal_views,
            key=jax.random.fold_in(inputs.key, 2),
        )
        target, _ = network.apply(inputs.target, target_view, train=True, mutable=["batch_stats"])
        target_scores = prototype_scores(
            jax.lax.stop_gradient(target["projection"]), jax.lax.stop_gradient(params["prototypes"])
        )
        targets = losses.msn_targets(target_scores, target_temp, sinkhorn_iterations)
        anchor_scores = [anchor["scores"]] + [out["scores"] for out in focal]
        value = losses.msn(anchor_scores, targets, anchor_temp, me_max_weight)
        return value, LossAux(batch_stats=batch_stats, metrics={"msn": value}, features=anchor["features"])

    return Method(
        name="msn",
        network=network,
        loss=loss,
        target_decay=functools.partial(ema.cosine_tau, base_tau=base_momentum),
        eval_weights="target",
    )
