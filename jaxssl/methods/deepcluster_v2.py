"""DeepCluster-v2 (Caron et al. 2020, appendix): k-means on a memory of projections gives each image a
pseudo-label per clustering head; the network is trained to predict them against the centroids."""

import math

import jax
import jax.numpy as jnp

from jaxssl import losses, sharding
from jaxssl.methods.forward import forward_views
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.heads import MLP

NUM_MEMORY_CROPS = 2  # the memory holds the projections of the two global crops of every image


def make(
    context: MethodContext,
    *,
    projector_hidden_dims=(2048,),
    projection_dim: int = 128,
    num_prototypes=(3000, 3000, 3000),
    temperature: float = 0.1,
    kmeans_iterations: int = 10,
) -> Method:
    """Projector Linear(2048)-BN-ReLU-Linear(128). state.extra holds the memory (2, N, 128) of each image's
    latest normalised projections of its two global crops, one set of centroids per head, and every
    image's assignment per head (both with their N rows padded to sharding.padded_rows, so that they split
    over the devices; k-means leaves the padding out and assigns it -1).

    At the first step of every epoch after the first, head h runs spherical k-means (kmeans_iterations,
    centroids started at random memory rows) on the memory of crop h mod 2, which holds the previous epoch's
    projections; its centroids become the head's prototypes and its assignments the targets. Loss: cross
    entropy of softmax(z . c / temperature) against the assignment, averaged over heads and crops. In the
    first epoch nothing is assigned yet: the loss is zero, the epoch only fills the memory and no parameter
    changes (`frozen`: the paper fills the memory with a forward pass before training).
    """
    network = context.network(
        MLP(hidden_dims=tuple(projector_hidden_dims), out_dim=projection_dim, dtype=context.dtype)
    )
    num_examples = context.num_examples
    if max(num_prototypes) > num_examples:
        raise ValueError(
            f"num_prototypes {tuple(num_prototypes)} exceeds the {num_examples} training examples"
        )

    def cluster(memory, key):
        """Centroids and assignments of every head from k-means on the memory."""
        centroids, assignments = {}, []
        for head, count in enumerate(num_prototypes):
            head_key = jax.random.fold_in(key, head)
            crop_memory = memory[head % NUM_MEMORY_CROPS]
            start = crop_memory[jax.random.choice(head_key, num_examples, (count,), replace=False)]
            head_centroids, head_assignments = losses.spherical_kmeans(
                crop_memory, start, kmeans_iterations, num_examples
            )
            centroids[f"head{head}"] = head_centroids
            assignments.append(head_assignments)
        return centroids, jnp.stack(assignments)

    def loss(params, inputs: LossInputs):
        extra = inputs.extra
        epoch = context.epoch_of(inputs.step)
        centroids, assignments = jax.lax.cond(
            epoch > extra["clustered_epoch"],
            lambda: cluster(extra["memory"], inputs.key),
            lambda: (extra["centroids"], extra["assignments"]),
        )
        outputs, batch_stats = forward_views(
            network, params, inputs.batch_stats, inputs.views, key=inputs.key
        )
        z = [losses.l2_normalize(out["projection"]) for out in outputs]
        scores = [[crop @ centroids[f"head{head}"].T for crop in z] for head in range(len(num_prototypes))]
        targets = [assignments[head, inputs.indices] for head in range(len(num_prototypes))]
        value = losses.deepcluster_v2(scores, targets, temperature)
        memory = extra["memory"]
        for crop in range(NUM_MEMORY_CROPS):
            memory = memory.at[crop, inputs.indices].set(jax.lax.stop_gradient(z[crop]))
        return value, LossAux(
            batch_stats=batch_stats,
            metrics={"deepcluster_v2": value, "assigned": jnp.mean((targets[0] >= 0).astype(jnp.float32))},
            features=outputs[0]["features"],
            extra={
                "memory": memory,
                "centroids": centroids,
                "assignments": assignments,
                "clustered_epoch": jnp.maximum(epoch, extra["clustered_epoch"]),
            },
        )

    def init_extra(key):
        """Random unit memory and centroids, nothing assigned (-1), no clustering done (epoch 0)."""
        memory_key, centroid_key = jax.random.split(key)
        dim = projection_dim
        shape = (NUM_MEMORY_CROPS, num_examples, dim)
        return {
            "memory": sharding.pad_rows(
                losses.l2_normalize(jax.random.normal(memory_key, shape, jnp.float32)), axis=1
            ),
            "centroids": {
                f"head{h}": losses.l2_normalize(
                    jax.random.normal(jax.random.fold_in(centroid_key, h), (k, dim))
                )
                for h, k in enumerate(num_prototypes)
            },
            "assignments": jnp.full((len(num_prototypes), sharding.padded_rows(num_examples)), -1, jnp.int32),
            "clustered_epoch": jnp.zeros((), jnp.int32),
        }

    return Method(
        name="deepcluster_v2",
        network=network,
        loss=loss,
        init_extra=init_extra,
        memories=(("memory", 1), ("assignments", 1)),
        frozen=(("", math.ceil(context.steps_per_epoch)),),
    )
