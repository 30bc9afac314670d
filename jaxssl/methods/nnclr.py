"""NNCLR (Dwibedi et al. 2021): the nearest neighbour in a support set of past embeddings is the positive."""

import jax.numpy as jnp

from jaxssl import losses
from jaxssl.methods.forward import forward_views
from jaxssl.methods.memory import check_queue_size, fifo_enqueue, random_queue
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.heads import projector_and_predictor


def make(
    context: MethodContext,
    *,
    projector_hidden_dims=(2048, 2048),
    projection_dim: int = 256,
    predictor_hidden_dims=(4096,),
    queue_size: int = 98304,
    temperature: float = 0.1,
) -> Method:
    """Projector: 3 layers with BN (the last without affine), predictor: Linear(4096)-BN-ReLU-Linear(256)
    (section 4.1). Loss (eq. 2, symmetrised): in-batch InfoNCE of NN(z1) against the predictions p2 and of
    NN(z2) against p1, where NN(z) is the support-set row of highest cosine similarity to z (eq. 1). The
    support set is a FIFO queue of view 1's projections (98,304 on ImageNet), updated inside the step."""
    network = context.network(
        *projector_and_predictor(projector_hidden_dims, projection_dim, predictor_hidden_dims, context.dtype)
    )
    check_queue_size(queue_size, context.global_batch, "nnclr queue_size")

    def loss(params, inputs: LossInputs):
        (out1, out2), batch_stats = forward_views(
            network, params, inputs.batch_stats, inputs.views[:2], key=inputs.key
        )
        support = inputs.extra["queue"]
        nn1 = losses.nearest_neighbours(out1["projection"], support)
        nn2 = losses.nearest_neighbours(out2["projection"], support)
        value = (
            losses.info_nce(nn1, out2["prediction"], None, temperature)
            + losses.info_nce(nn2, out1["prediction"], None, temperature)
        ) / 2.0
        same_image = jnp.mean(jnp.sum(nn1 * losses.l2_normalize(out1["projection"]), axis=-1))
        return value, LossAux(
            batch_stats=batch_stats,
            metrics={"info_nce": value, "neighbour_similarity": same_image},
            features=out1["features"],
            extra=fifo_enqueue(inputs.extra, out1["projection"]),
        )

    return Method(
        name="nnclr",
        network=network,
        loss=loss,
        init_extra=lambda key: random_queue(key, queue_size, projection_dim),
        memories=(("queue", 0),),
    )
