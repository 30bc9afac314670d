"""MoCo v2 (He et al. 2020; Chen et al. 2020, "Improved Baselines with Momentum Contrastive Learning")."""

import jax
import jax.numpy as jnp

from jaxssl import losses
from jaxssl.methods.forward import forward_in_groups
from jaxssl.methods.memory import check_queue_size, fifo_enqueue, random_queue
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.heads import MLP


def make(
    context: MethodContext,
    *,
    projector_hidden_dims=(2048,),
    projection_dim: int = 128,
    queue_size: int = 65536,
    temperature: float = 0.2,
    momentum: float = 0.999,
    bn_groups: int = 8,
    symmetric: bool = False,
) -> Method:
    """Queries from the online encoder, keys from its momentum copy (EMA with constant m), InfoNCE against a
    FIFO queue of past keys held in state.extra and updated inside the step (eq. 1, section 3).

    Head: Linear(2048)-ReLU-Linear(128) without BN (MoCo v2). Shuffled BN (section 3.3): both encoders
    normalise in `bn_groups` groups of the batch (per-GPU BN in the paper, here fixed so that any device count
    computes the same thing) and the keys are shuffled across groups before the key encoder and unshuffled
    after, so a query and its key never share batch statistics. symmetric=False is the paper's loss
    (queries of view 1, keys of view 2); True adds the swapped term and enqueues both views' keys.
    """
    network = context.network(
        MLP(
            hidden_dims=tuple(projector_hidden_dims),
            out_dim=projection_dim,
            use_bn=False,
            dtype=context.dtype,
        )
    )
    directions = ((0, 1), (1, 0)) if symmetric else ((0, 1),)
    check_queue_size(queue_size, context.global_batch * len(directions), "moco_v2 queue_size")
    if context.global_batch % bn_groups:
        raise ValueError(f"the global batch {context.global_batch} does not split into bn_groups={bn_groups}")

    def shuffled_keys(target, view, key):
        order = jax.random.permutation(key, view.shape[0])
        outputs, _ = forward_in_groups(network, target, view[order], bn_groups)
        return jax.lax.stop_gradient(outputs["projection"][jnp.argsort(order)])

    def loss(params, inputs: LossInputs):
        queries, batch_stats = [], inputs.batch_stats
        for index, view in enumerate(inputs.views[:2]):
            dropout_key = jax.random.fold_in(inputs.key, 2 + index)  # 0 and 1 shuffle the keys' views
            outputs, batch_stats = forward_in_groups(
                network, {"params": params, "batch_stats": batch_stats}, view, bn_groups, dropout_key
            )
            queries.append(outputs)
        key_views = sorted({k for _, k in directions})
        keys = {
            k: shuffled_keys(inputs.target, inputs.views[k], jax.random.fold_in(inputs.key, k))
            for k in key_views
        }
        queue = inputs.extra["queue"]
        terms = [
            losses.info_nce(queries[q]["projection"], keys[k], queue, temperature) for q, k in directions
        ]
        value = sum(terms) / len(terms)
        extra = fifo_enqueue(inputs.extra, jnp.concatenate([keys[k] for k in key_views], axis=0))
        return value, LossAux(
            batch_stats=batch_stats, metrics={"info_nce": value}, features=queries[0]["features"], extra=extra
        )

    return Method(
        name="moco_v2",
        network=network,
        loss=loss,
        target_decay=lambda step, total_steps: jnp.asarray(momentum, jnp.float32),
        init_extra=lambda key: random_queue(key, queue_size, projection_dim),
        memories=(("queue", 0),),
    )
