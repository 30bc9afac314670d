"""The step shared by the pretext tasks that classify an arrangement of tiles (Jigsaw, relative patch
position): cut tiles with labels, classify them with a TileNetwork, score with cross-entropy."""

from collections.abc import Callable

import jax

from jaxssl import losses
from jaxssl.methods.forward import dropout_rngs, forward, probe_features
from jaxssl.methods.method import LossAux, LossInputs, MethodContext
from jaxssl.models.heads import MLP
from jaxssl.models.pretext import TileNetwork

TILE_KEY_SALT = 1  # the transform's draws: fold_in(loss key, 1), apart from the dropout streams


def tile_network(
    context: MethodContext, head_hidden_dims, classes: int, tiles: int, tile_size: int, standardize
):
    """A TileNetwork on the context's backbone with an MLP head (Dense-BN-ReLU per hidden layer) to `classes`."""
    return TileNetwork(
        backbone=context.backbone,
        head=MLP(hidden_dims=tuple(head_hidden_dims), out_dim=classes, dtype=context.dtype),
        num_tiles=tiles,
        tile_size=tile_size,
        standardize=standardize,
        image_mean=tuple(context.image_mean),
        image_std=tuple(context.image_std),
    )


def tile_task_loss(network: TileNetwork, cut: Callable, task: str):
    """loss(params, inputs) of a tile task: cut(key, images) -> (tiles (B, T, t, t, C), labels (B,)) on the
    first view, the network's logits on the tiles, their cross-entropy. The online probe reads the backbone's
    features of the whole view in inference mode (stop-gradient), the input evaluation gives it, since the
    tiles' features are not what a probe of the network is evaluated on."""

    def loss(params, inputs: LossInputs):
        images = inputs.views[0]
        tiles, labels = cut(jax.random.fold_in(inputs.key, TILE_KEY_SALT), images)
        variables = {"params": params, "batch_stats": inputs.batch_stats}
        logits, batch_stats = forward(
            network, variables, tiles, dropout_rngs(inputs.key, 0), method="classify"
        )
        value, top1 = losses.hard_label_cross_entropy(logits, labels)
        features = probe_features(network, params, batch_stats, images)
        return value, LossAux(
            batch_stats=batch_stats,
            metrics={f"{task}_ce": value, f"{task}_top1": top1},
            features=features,
        )

    return loss
