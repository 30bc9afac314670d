"""SimCLR (Chen et al. 2020): two views, one network, NT-Xent with the whole global batch as negatives."""

from jaxssl import losses
from jaxssl.methods.forward import forward_views
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.heads import MLP


def make(
    context: MethodContext,
    *,
    projector_hidden_dims=(2048,),
    projection_dim: int = 128,
    temperature: float = 0.5,
) -> Method:
    """Projector: Linear-BN-ReLU-Linear (SimCLR v1, section 2.1). Views of one size go through the network
    as one batch, so BatchNorm statistics cover both (as in the reference implementation).

    With more than two views (the multicrop preset, opt-in), the loss is the mean NT-Xent over the pairs of
    a global crop with every later view (Caron et al. 2020, section 4.3 applies multi-crop to SimCLR this
    way); with two views it is NT-Xent itself."""
    network = context.network(
        MLP(hidden_dims=tuple(projector_hidden_dims), out_dim=projection_dim, dtype=context.dtype)
    )

    def loss(params, inputs: LossInputs):
        outputs, batch_stats = forward_views(
            network, params, inputs.batch_stats, inputs.views, key=inputs.key
        )
        z = [out["projection"] for out in outputs]
        pairs = [(g, v) for g in range(min(2, len(z))) for v in range(g + 1, len(z))]
        value = sum(losses.nt_xent(z[g], z[v], temperature) for g, v in pairs) / len(pairs)
        return value, LossAux(
            batch_stats=batch_stats, metrics={"nt_xent": value}, features=outputs[0]["features"]
        )

    return Method(name="simclr", network=network, loss=loss)
