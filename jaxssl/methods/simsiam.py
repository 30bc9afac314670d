"""SimSiam (Chen & He 2021): a predictor and a stop-gradient, no negatives and no momentum encoder."""

import jax

from jaxssl import losses
from jaxssl.methods.forward import forward_views
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.heads import projector_and_predictor


def make(
    context: MethodContext,
    *,
    projector_hidden_dims=(2048, 2048),
    projection_dim: int = 2048,
    predictor_hidden_dims=(512,),
) -> Method:
    """Projector: (Linear-BN-ReLU) per hidden layer, then Linear-BN on the output (section 4.1; three layers
    on ImageNet, two on CIFAR); predictor: Linear(512)-BN-ReLU-Linear(2048), a bottleneck without BN on its
    output. Loss (eq. 1-2): D(p1, sg(z2)) / 2 + D(p2, sg(z1)) / 2 with D the negative cosine similarity."""
    network = context.network(
        *projector_and_predictor(projector_hidden_dims, projection_dim, predictor_hidden_dims, context.dtype)
    )

    def loss(params, inputs: LossInputs):
        (out1, out2), batch_stats = forward_views(
            network, params, inputs.batch_stats, inputs.views[:2], together=False, key=inputs.key
        )
        loss_12 = losses.simsiam_loss(out1["prediction"], jax.lax.stop_gradient(out2["projection"]))
        loss_21 = losses.simsiam_loss(out2["prediction"], jax.lax.stop_gradient(out1["projection"]))
        value = (loss_12 + loss_21) / 2.0
        return value, LossAux(
            batch_stats=batch_stats, metrics={"negative_cosine": value}, features=out1["features"]
        )

    return Method(name="simsiam", network=network, loss=loss)
