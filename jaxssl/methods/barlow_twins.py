"""Barlow Twins (Zbontar et al. 2021): the cross-correlation of the two views' embeddings is driven to I."""

from jaxssl import losses
from jaxssl.methods.forward import forward_views
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.heads import MLP


def make(
    context: MethodContext,
    *,
    projector_hidden_dims=(8192, 8192),
    projection_dim: int = 8192,
    lambd: float = 5e-3,
) -> Method:
    """Projector: three linear layers of 8192, BN and ReLU after the first two (section 4). The loss
    (eq. 1-2) standardises each view's embedding over the global batch and penalises the cross-correlation's
    distance to the identity, off-diagonal terms weighted by lambd (5e-3; the code uses 0.0051)."""
    network = context.network(
        MLP(hidden_dims=tuple(projector_hidden_dims), out_dim=projection_dim, dtype=context.dtype)
    )

    def loss(params, inputs: LossInputs):
        (out1, out2), batch_stats = forward_views(
            network, params, inputs.batch_stats, inputs.views[:2], together=False, key=inputs.key
        )
        value = losses.barlow_twins(out1["projection"], out2["projection"], lambd)
        return value, LossAux(
            batch_stats=batch_stats, metrics={"barlow_twins": value}, features=out1["features"]
        )

    return Method(name="barlow_twins", network=network, loss=loss)
