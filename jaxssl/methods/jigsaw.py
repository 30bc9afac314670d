"""Jigsaw (Noroozi and Favaro 2016, "Unsupervised Learning of Visual Representations by Solving Jigsaw
Puzzles"): which permutation of a chosen set shuffled an image's 3 x 3 tiles."""

import jax

from jaxssl.augment import pretext
from jaxssl.methods.method import Method, MethodContext
from jaxssl.methods.tile_task import tile_network, tile_task_loss


def make(
    context: MethodContext,
    *,
    num_permutations: int = 1000,
    min_distance: int = 2,
    grid: int = 3,
    tile_size: int = 64,
    jitter: int = 5,
    gray_prob: float = 0.3,
    head_hidden_dims=(4096,),
) -> Method:
    """Per step (section 3): each image's `grid` x `grid` tiles (cells of image_size // grid, tiles of
    `tile_size` jittered by up to `jitter` px, each standardised on its own) are shuffled by one of
    `num_permutations` permutations of maximal Hamming distance (`pretext.permutation_set`, built once), all
    tiles of an example grayscale with probability `gray_prob`; the shared backbone embeds every tile, and a
    head on the concatenated features in shuffled order (the paper's fc7, fc8) classifies the permutation.
    Bad sizes (tiles that do not fit, a set larger than the permutations at `min_distance`) fail here."""
    layout = pretext.TileGrid(context.image_size, grid, tile_size, jitter)
    permutations = pretext.permutation_set(num_permutations, layout.num_cells, min_distance)
    network = tile_network(
        context, head_hidden_dims, num_permutations, layout.num_cells, tile_size, standardize=True
    )

    def cut(key, images):
        shuffle_key, gray_key = jax.random.split(key)
        tiles, labels = pretext.jigsaw(shuffle_key, images, permutations, layout)
        return pretext.gray_examples(gray_key, tiles, gray_prob), labels

    return Method(name="jigsaw", network=network, loss=tile_task_loss(network, cut, "jigsaw"))
