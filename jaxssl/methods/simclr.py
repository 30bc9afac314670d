"""SimCLR (Chen et al. 2020): two views, one network, NT-Xent with the whole global batch as negatives."""

import jax.numpy as jnp

from jaxssl import losses
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.heads import MLP


def make(
    context: MethodContext,
    *,
    projector_hidden_dims=(2048,),
    projection_dim: int = 128,
    temperature: float = 0.5,
) -> Method:
    """Projector: Linear-BN-ReLU-Linear (SimCLR v1, section 2.1). The two views go through the network
    as one batch, so BatchNorm statistics cover both (as in the reference implementation)."""
    network = context.network(
        MLP(hidden_dims=tuple(projector_hidden_dims), out_dim=projection_dim, dtype=context.dtype)
    )

    def loss(params, inputs: LossInputs):
        num_pairs = inputs.views[0].shape[0]
        outputs, updates = network.apply(
            {"params": params, "batch_stats": inputs.batch_stats},
            jnp.concatenate(inputs.views, axis=0),
            train=True,
            mutable=["batch_stats"],
        )
        z1, z2 = outputs["projection"][:num_pairs], outputs["projection"][num_pairs:]
        value = losses.nt_xent(z1, z2, temperature)
        return value, LossAux(
            batch_stats=updates["batch_stats"],
            metrics={"nt_xent": value},
            features=outputs["features"][:num_pairs],
        )

    return Method(name="simclr", network=network, loss=loss)
