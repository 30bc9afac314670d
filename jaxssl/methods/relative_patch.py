"""Relative patch position (Doersch, Gupta and Efros 2015, "Unsupervised Visual Representation Learning by
Context Prediction"): where, of its 8 neighbours, a second patch lies from the centre patch."""

import jax

from jaxssl.augment import pretext
from jaxssl.methods.method import Method, MethodContext
from jaxssl.methods.tile_task import tile_network, tile_task_loss


def make(
    context: MethodContext,
    *,
    tile_size: int = 52,
    jitter: int = 7,
    colors: str = "drop",
    head_hidden_dims=(4096,),
) -> Method:
    """Per step (section 3): the centre patch of a 3 x 3 grid (cells of image_size // 3, patches of
    `tile_size`, each jittered by up to `jitter` px) and one random neighbour, both through the shared
    backbone; a head on the two concatenated feature vectors (the paper's fc7, fc8) classifies the
    neighbour's position in 8 ways. `colors` is the defence against chromatic aberration (section 3.1):
    "drop" (one channel kept per patch, noise in the others), "project" (the green-magenta component
    removed) or "none"; grayscale data needs none."""
    layout = pretext.TileGrid(context.image_size, 3, tile_size, jitter)
    pretext.check_color_defence(colors)
    network = tile_network(
        context, head_hidden_dims, len(pretext.NEIGHBOURS), 2, tile_size, standardize=False
    )

    def cut(key, images):
        pair_key, color_key = jax.random.split(key)
        patches, labels = pretext.patch_pair(pair_key, images, layout)
        return pretext.defend_colors(color_key, patches, colors), labels

    return Method(name="relative_patch", network=network, loss=tile_task_loss(network, cut, "relative_patch"))
