"""CPC v2 (Hénaff, Srinivas, De Fauw, Razavi, Doersch, Eslami and van den Oord 2020, "Data-Efficient Image
Recognition with Contrastive Predictive Coding"): from the patches above, predict the vectors of the patches
below, against every other patch of the batch."""

import jax
import jax.numpy as jnp

from jaxssl import losses
from jaxssl.augment import pretext
from jaxssl.methods.forward import dropout_rngs
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.cpc import ContextNetwork, CPCNetwork, grid_side, patch_grid

AUGMENT_KEY_SALT = 1  # the patch augmentation's draws: fold_in(loss key, 1), apart from the dropout streams


def make(
    context: MethodContext,
    *,
    patch: int = 56,
    stride: int = 28,
    num_offsets: int = 3,
    context_width: int = 256,
    context_depth: int = 4,
    flip_prob: float = 0.5,
    colors: str = "drop",
) -> Method:
    """Per step (section 4.1): each view is cut into a grid of `patch` px patches every `stride` px (the
    paper's 7 x 7 grid of overlapping patches), each patch augmented on its own (a flip with probability
    `flip_prob`; colour dropping, pretext.defend_colors, on RGB data), every patch encoded by the backbone as
    one batch (which is why it must hold no BatchNorm: statistics shared by the patches of an image would
    leak the answer, the paper's LayerNorm ResNet), a row-masked context network over the grid and one
    linear predictor per offset k = 1..num_offsets; the loss is losses.cpc_info_nce. The online probe reads
    the pooled vectors of the training patches; offline evaluation the clean grid's (CPCNetwork.features)."""
    pretext.check_color_defence(colors)
    side = grid_side(context.image_size, patch, stride)
    if not 1 <= num_offsets < side:
        raise ValueError(
            f"num_offsets must be in [1, {side - 1}] on a {side} x {side} patch grid, got {num_offsets}"
        )
    network = CPCNetwork(
        backbone=context.backbone,
        context=ContextNetwork(width=context_width, depth=context_depth),
        num_offsets=num_offsets,
        patch=patch,
        stride=stride,
        image_mean=tuple(context.image_mean),
        image_std=tuple(context.image_std),
    )
    sample = jnp.zeros((1, context.image_size, context.image_size, len(context.image_mean)))
    if "batch_stats" in jax.eval_shape(lambda: network.init(jax.random.key(0), sample, train=True)):
        raise ValueError(
            "cpc_v2 encodes the patches of an image as one batch, so BatchNorm would share statistics across "
            "them (the leak CPC v2 removes with LayerNorm): use a backbone without BatchNorm, such as a ResNet "
            "with --config.model.norm=layer or a ViT"
        )

    def augment_patches(key, patches):
        flip_key, color_key = jax.random.split(key)
        patches = pretext.flip_patches(flip_key, patches, flip_prob)
        batch, rows, columns = patches.shape[:3]
        flat = patches.reshape((batch, rows * columns) + patches.shape[3:])
        return pretext.defend_colors(color_key, flat, colors).reshape(patches.shape)

    def loss(params, inputs: LossInputs):
        patches = patch_grid(inputs.views[0], patch, stride)
        patches = augment_patches(jax.random.fold_in(inputs.key, AUGMENT_KEY_SALT), patches)
        outputs = network.apply(
            {"params": params},
            patches,
            train=True,
            method="encode_and_predict",
            rngs=dropout_rngs(inputs.key, 0),
        )
        value = losses.cpc_info_nce(outputs["predictions"], outputs["patch_vectors"])
        features = jnp.mean(jax.lax.stop_gradient(outputs["patch_vectors"]), axis=(1, 2))
        return value, LossAux(batch_stats={}, metrics={"cpc_info_nce": value}, features=features)

    return Method(name="cpc_v2", network=network, loss=loss)
