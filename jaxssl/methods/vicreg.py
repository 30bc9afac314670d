"""VICReg (Bardes et al. 2022): invariance, variance and covariance terms on the two views' embeddings."""

from jaxssl import losses
from jaxssl.methods.forward import forward_views
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.heads import MLP


def make(
    context: MethodContext,
    *,
    projector_hidden_dims=(8192, 8192),
    projection_dim: int = 8192,
    sim_coeff: float = 25.0,
    std_coeff: float = 25.0,
    cov_coeff: float = 1.0,
) -> Method:
    """Expander: three linear layers of 8192, BN and ReLU after the first two (section 4.2). Loss (eq. 6):
    sim_coeff x MSE + std_coeff x hinge on each dimension's std + cov_coeff x squared off-diagonal
    covariance, over the global batch, with the paper's 25 / 25 / 1."""
    network = context.network(
        MLP(hidden_dims=tuple(projector_hidden_dims), out_dim=projection_dim, dtype=context.dtype)
    )

    def loss(params, inputs: LossInputs):
        (out1, out2), batch_stats = forward_views(
            network, params, inputs.batch_stats, inputs.views[:2], together=False, key=inputs.key
        )
        value, terms = losses.vicreg(out1["projection"], out2["projection"], sim_coeff, std_coeff, cov_coeff)
        return value, LossAux(batch_stats=batch_stats, metrics=terms, features=out1["features"])

    return Method(name="vicreg", network=network, loss=loss)
