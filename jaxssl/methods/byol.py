"""BYOL (Grill et al. 2020): an online network with a predictor regresses an EMA target's projection."""

import functools

import jax

from jaxssl import ema, losses
from jaxssl.methods.forward import forward_views
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.heads import MLP


def make(
    context: MethodContext,
    *,
    projector_hidden_dims=(4096,),
    projection_dim: int = 256,
    predictor_hidden_dims=(4096,),
    base_tau: float = 0.996,
) -> Method:
    """Projector and predictor: Linear(4096)-BN-ReLU-Linear(256) (section 3.3). The target is the online
    network's EMA with tau raised from base_tau to 1 by a cosine; its predictor is carried but unused.

    Loss: eq. (2) symmetrised, 2 x the mean over (target view g, online view v != g) of the normalised MSE;
    with two views that is L(p1, z'2) + L(p2, z'1) as in the paper. With the multicrop preset (opt-in) the
    target sees the two global crops only. Each view is its own batch, as in the paper."""
    network = context.network(
        MLP(hidden_dims=tuple(projector_hidden_dims), out_dim=projection_dim, dtype=context.dtype),
        MLP(hidden_dims=tuple(predictor_hidden_dims), out_dim=projection_dim, dtype=context.dtype),
    )

    def loss(params, inputs: LossInputs):
        online, batch_stats = forward_views(
            network, params, inputs.batch_stats, inputs.views, together=False, key=inputs.key
        )
        targets, _ = forward_views(
            network, inputs.target["params"], inputs.target["batch_stats"], inputs.views[:2], together=False
        )
        terms = [
            losses.byol_loss(online[v]["prediction"], jax.lax.stop_gradient(target["projection"]))
            for g, target in enumerate(targets)
            for v in range(len(online))
            if v != g
        ]
        value = 2.0 * sum(terms) / len(terms)
        return value, LossAux(
            batch_stats=batch_stats, metrics={"regression": value}, features=online[0]["features"]
        )

    return Method(
        name="byol",
        network=network,
        loss=loss,
        target_decay=functools.partial(ema.cosine_tau, base_tau=base_tau),
    )
