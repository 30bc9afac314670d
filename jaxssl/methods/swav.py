"""SwAV (Caron et al. 2020): predict one crop's Sinkhorn code of the prototypes from every other crop."""

import math

import jax
import jax.numpy as jnp

from jaxssl import losses
from jaxssl.methods.forward import forward_views
from jaxssl.methods.memory import check_queue_size
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.heads import MLP, Prototypes

NUM_ASSIGNED_CROPS = 2  # codes are computed for the two global crops only (section 3.2)


def normalize_prototypes(params):
    """The prototype vectors (kernel columns) projected back onto the unit sphere after each update."""
    kernel = params["predictor"]["kernel"]
    return {**params, "predictor": {"kernel": losses.l2_normalize(kernel, axis=0)}}


def make(
    context: MethodContext,
    *,
    projector_hidden_dims=(2048,),
    projection_dim: int = 128,
    num_prototypes: int = 3000,
    temperature: float = 0.1,
    epsilon: float = 0.05,
    sinkhorn_iterations: int = 3,
    freeze_prototypes_epochs: float = 1.0,
    queue_length: int = 0,
    queue_start_epochs: float = 15.0,
) -> Method:
    """Projector Linear(2048)-BN-ReLU-Linear(128), then K prototypes of unit norm (section 4, appendix A).

    Per step: scores of every crop against the prototypes; codes of the two global crops by Sinkhorn-Knopp
    over the global batch (eq. 3, epsilon 0.05, 3 iterations); the swapped prediction loss (eq. 1-2) over
    all (global crop, other crop) pairs. The prototypes are not updated for the first
    freeze_prototypes_epochs (the released code's freeze_prototypes_niters; Method.frozen) and are
    re-normalised after every update (after_update). With queue_length > 0 the projections of the last
    queue_length / batch steps (per global crop, newest first) join Sinkhorn's input from queue_start_epochs
    on, as the paper does for small batches; the queue lives in state.extra.
    """
    network = context.network(
        MLP(hidden_dims=tuple(projector_hidden_dims), out_dim=projection_dim, dtype=context.dtype),
        Prototypes(num_prototypes),
    )
    if queue_length:
        check_queue_size(queue_length, context.global_batch, "swav queue_length")
    freeze_steps = freeze_prototypes_epochs * context.steps_per_epoch
    # The queue starts filling at step 0 and joins Sinkhorn once it is full and queue_start_epochs have passed.
    queue_start_step = max(queue_start_epochs * context.steps_per_epoch, queue_length / context.global_batch)

    def codes_of(scores, prototypes, queue, use_queue):
        """Sinkhorn codes of one global crop's batch rows; with a queue in use, the queued projections' scores
        join the transport problem and only the batch rows' codes are kept."""
        codes = losses.sinkhorn(scores, epsilon, sinkhorn_iterations)
        if queue is None:
            return codes
        queued_scores = losses.l2_normalize(queue) @ prototypes
        with_queue = losses.sinkhorn(jnp.concatenate([scores, queued_scores]), epsilon, sinkhorn_iterations)
        return jnp.where(use_queue, with_queue[: scores.shape[0]], codes)

    def loss(params, inputs: LossInputs):
        frozen = inputs.step < freeze_steps
        kernel = params["predictor"]["kernel"]
        outputs, batch_stats = forward_views(
            network, params, inputs.batch_stats, inputs.views, key=inputs.key
        )
        scores = [out["prediction"] for out in outputs]
        queue = inputs.extra.get("queue")
        use_queue = inputs.step >= queue_start_step
        codes = [
            codes_of(
                jax.lax.stop_gradient(scores[a]),
                jax.lax.stop_gradient(kernel),
                None if queue is None else queue[a],
                use_queue,
            )
            for a in range(NUM_ASSIGNED_CROPS)
        ]
        value = losses.swav(scores, codes, temperature)
        extra = None
        if queue is not None:
            newest = jnp.stack([outputs[a]["projection"] for a in range(NUM_ASSIGNED_CROPS)])
            extra = {
                "queue": jnp.concatenate(
                    [jax.lax.stop_gradient(newest), queue[:, : -newest.shape[1]]], axis=1
                )
            }
        return value, LossAux(
            batch_stats=batch_stats,
            metrics={"swav": value, "prototypes_frozen": frozen.astype(jnp.float32)},
            features=outputs[0]["features"],
            extra=extra,
        )

    def init_extra(key):
        del key
        if not queue_length:
            return {}
        return {"queue": jnp.zeros((NUM_ASSIGNED_CROPS, queue_length, projection_dim), jnp.float32)}

    return Method(
        name="swav",
        network=network,
        loss=loss,
        init_extra=init_extra,
        memories=(("queue", 1),),
        after_update=normalize_prototypes,
        frozen=(("predictor/kernel", math.ceil(freeze_steps)),) if freeze_steps > 0 else (),
    )
