"""MoCo v3 (Chen et al. 2021, "An Empirical Study of Training Self-Supervised Vision Transformers")."""

import functools

import jax

from jaxssl import ema, losses
from jaxssl.methods.forward import forward_views
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.heads import projector_and_predictor
from jaxssl.models.vit import ViT

# Steps for which a frozen param is held: all of them (jnp int32 steps never reach it).
FOREVER = 2**31 - 1


def make(
    context: MethodContext,
    *,
    projector_hidden_dims=(4096,),
    projection_dim: int = 256,
    predictor_hidden_dims=(4096,),
    temperature: float = 1.0,
    base_momentum: float = 0.99,
    freeze_patch_embedding: bool = False,
) -> Method:
    """No queue: the keys of the global batch are the negatives (algorithm 1). Query branch: backbone,
    projector (BN on every layer, the last without affine; 2 layers for ResNets as in the released code, 3 for
    ViTs) and predictor (2 layers); key branch: the momentum encoder's backbone and projector, m raised from
    base_momentum to 1 by a cosine.

    Loss: ctr(q1, k2) + ctr(q2, k1) with ctr = 2 tau x the in-batch InfoNCE (the paper scales by 2 tau so the
    gradient does not depend on the temperature); tau is 1.0 for ResNets and 0.2 for ViTs.

    freeze_patch_embedding: a ViT's patch projection stays at its random init for the whole run (section 4.2,
    "random patch projection", the paper's remedy for the training instability of ViTs).
    """
    if freeze_patch_embedding and not isinstance(context.backbone, ViT):
        raise ValueError(
            "freeze_patch_embedding needs a ViT backbone (it freezes the patch projection), got "
            f"{type(context.backbone).__name__}"
        )
    network = context.network(
        *projector_and_predictor(projector_hidden_dims, projection_dim, predictor_hidden_dims, context.dtype)
    )

    def contrastive(q, k):
        return 2.0 * temperature * losses.info_nce(q, jax.lax.stop_gradient(k), None, temperature)

    def loss(params, inputs: LossInputs):
        views = inputs.views[:2]
        (q1, q2), batch_stats = forward_views(
            network, params, inputs.batch_stats, views, together=False, key=inputs.key
        )
        (k1, k2), _ = forward_views(
            network, inputs.target["params"], inputs.target["batch_stats"], views, together=False
        )
        value = contrastive(q1["prediction"], k2["projection"]) + contrastive(
            q2["prediction"], k1["projection"]
        )
        return value, LossAux(
            batch_stats=batch_stats, metrics={"contrastive": value}, features=q1["features"]
        )

    return Method(
        name="moco_v3",
        network=network,
        loss=loss,
        target_decay=functools.partial(ema.cosine_tau, base_tau=base_momentum),
        frozen=(("backbone/patch_embed", FOREVER),) if freeze_patch_embedding else (),
    )
