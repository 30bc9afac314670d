"""BYOL (Grill et al. 2020): an online network with a predictor regresses an EMA target's projection."""

import functools

import jax

from jaxssl import ema, losses
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
    network's EMA with tau raised from base_tau to 1 by a cosine; its predictor is carried but unused."""
    network = context.network(
        MLP(hidden_dims=tuple(projector_hidden_dims), out_dim=projection_dim, dtype=context.dtype),
        MLP(hidden_dims=tuple(predictor_hidden_dims), out_dim=projection_dim, dtype=context.dtype),
    )

    def forward(variables, images):
        outputs, updates = network.apply(variables, images, train=True, mutable=["batch_stats"])
        return outputs, updates["batch_stats"]

    def loss(params, inputs: LossInputs):
        """Symmetrised loss (eq. 2 and the swapped term); each view is its own batch, as in the paper."""
        view1, view2 = inputs.views
        online1, batch_stats = forward({"params": params, "batch_stats": inputs.batch_stats}, view1)
        online2, batch_stats = forward({"params": params, "batch_stats": batch_stats}, view2)
        target1, _ = forward(inputs.target, view1)
        target2, _ = forward(inputs.target, view2)
        loss_12 = losses.byol_loss(online1["prediction"], jax.lax.stop_gradient(target2["projection"]))
        loss_21 = losses.byol_loss(online2["prediction"], jax.lax.stop_gradient(target1["projection"]))
        value = loss_12 + loss_21
        return value, LossAux(
            batch_stats=batch_stats,
            metrics={"loss_12": loss_12, "loss_21": loss_21},
            features=online1["features"],
        )

    return Method(
        name="byol",
        network=network,
        loss=loss,
        target_decay=functools.partial(ema.cosine_tau, base_tau=base_tau),
    )
