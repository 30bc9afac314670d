"""Label-producing input transforms of the pretext tasks, in pure JAX with static shapes.

Unlike the augmentation core (label-free, one image at a time), each function here takes a batch of float32
images (B, S, S, C) in [0, 1] and returns what a pretext network classifies together with the labels it
made: the four rotations (RotNet), permuted tiles (Jigsaw) and a centre patch with one of its neighbours
(relative patch position). Sizes are Python ints fixed when a method is made, so every step has the same
shapes and one executable serves a run; random draws come from the key the loss is given.
"""

import dataclasses
import functools
import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxssl.augment.color import to_grayscale
from jaxssl.augment.lab import rgb_to_lab

# The 8 cells around the centre (cell 4) of a 3 x 3 grid, row-major: label l of relative patch position is
# the cell NEIGHBOURS[l] (Doersch et al. 2015, figure 2: 0 top left ... 7 bottom right).
NEIGHBOURS = (0, 1, 2, 3, 5, 6, 7, 8)
CENTRE = 4
COLOR_DEFENCES = ("none", "drop", "project")
# The green-magenta axis in RGB, along which a lens's chromatic aberration shifts colours (Doersch et al.
# 2015, section 3.1); "project" removes each pixel's component along it.
GREEN_MAGENTA = np.array([-1.0, 2.0, -1.0]) / math.sqrt(6.0)


def rotations(images):
    """All four rotations of a batch: (4B, S, S, C) and their labels (4B,) int32.

    Row k * B + b is image b turned k quarter turns counter-clockwise and is labelled k (Gidaris et al. 2018,
    section 2.2: each image's four rotations go through the network in the same batch)."""
    batch, height, width = images.shape[:3]
    if height != width:
        raise ValueError(f"rotations keep the shape of square images only, got {height} x {width}")
    rotated = jnp.concatenate([jnp.rot90(images, k, axes=(1, 2)) for k in range(4)])
    return rotated, jnp.repeat(jnp.arange(4, dtype=jnp.int32), batch)


def hamming_to(permutations: np.ndarray, permutation: np.ndarray) -> np.ndarray:
    """Hamming distance (positions that differ) of each row of `permutations` to `permutation`."""
    return np.count_nonzero(permutations != permutation, axis=1).astype(np.int32)


@functools.lru_cache(maxsize=8)
def permutation_set(count: int, cells: int = 9, min_distance: int = 2) -> np.ndarray:
    """`count` permutations of `cells` tile positions, (count, cells) int32, as far apart as greedy gets them.

    Noroozi & Favaro (2016, section 3.2, algorithm 1) choose the set greedily for a large Hamming distance
    between its members, since the task's difficulty and the features' quality grow with it (their table 3).
    Here: start from the identity, then repeatedly add the permutation whose minimum distance to the chosen
    ones is largest (ties: the largest total distance, then the first in lexicographic order), so the set is
    deterministic and built once per process. Raises ValueError when `count` exceeds `cells`! or when the
    set reaches a minimum distance below `min_distance`. Measured: 100 of 9! reach minimum 6 (mean 8.08),
    1000 reach minimum 5 (mean 8.01); Noroozi et al.'s 1000 had mean 8.00 and minimum 2.
    """
    if cells < 2 or count < 2:
        raise ValueError(f"a permutation set needs at least 2 cells and 2 permutations, got {cells}, {count}")
    if count > math.factorial(cells):
        raise ValueError(f"{cells} cells have only {math.factorial(cells)} permutations, asked for {count}")
    candidates = np.array(list(itertools.permutations(range(cells))), np.int8)
    chosen = [0]
    nearest = hamming_to(candidates, candidates[0]).astype(np.int64)
    total = nearest.copy()
    total_bound = count * cells  # total < total_bound: one key orders by nearest, then total
    while len(chosen) < count:
        best = int(np.argmax(nearest * total_bound + total))  # the first of the ties: lexicographic order
        if nearest[best] < min_distance:
            raise ValueError(
                f"only {len(chosen)} permutations of {cells} cells lie at Hamming distance >= {min_distance} "
                f"from each other by greedy selection, asked for {count}: lower num_permutations or min_distance"
            )
        chosen.append(best)
        distance = hamming_to(candidates, candidates[best])
        np.minimum(nearest, distance, out=nearest)
        total += distance
    return candidates[chosen].astype(np.int32)


@dataclasses.dataclass(frozen=True)
class TileGrid:
    """Where tiles are cut from an image of side `image_size`: a `grid` x `grid` arrangement of square cells
    of side image_size // grid (centred, the remainder left out), a `tile` x `tile` tile centred in each cell
    and moved by up to `jitter` pixels along each axis. The cell's margin around its tile is the gap that
    keeps a network from matching edges across tiles (Noroozi & Favaro 2016, section 3.3: 64 px tiles in
    75 px cells; Doersch et al. 2015, section 3.1: a gap and up to 7 px of jitter)."""

    image_size: int
    grid: int
    tile: int
    jitter: int

    def __post_init__(self):
        if self.grid < 2 or self.tile < 1 or self.jitter < 0:
            raise ValueError(f"a tile grid needs grid >= 2, tile >= 1, jitter >= 0, got {self}")
        if self.tile > self.cell:
            raise ValueError(
                f"tiles of {self.tile} px do not fit the {self.cell} px cells of a {self.grid} x {self.grid} "
                f"grid on {self.image_size} px images"
            )
        if self.jitter > self.slack:
            raise ValueError(
                f"a jitter of {self.jitter} px moves {self.tile} px tiles out of their {self.cell} px cells "
                f"(at most {self.slack})"
            )

    @property
    def cell(self) -> int:
        return self.image_size // self.grid

    @property
    def slack(self) -> int:
        """The largest jitter that keeps every tile inside its cell."""
        return (self.cell - self.tile) // 2

    @property
    def num_cells(self) -> int:
        return self.grid * self.grid

    def centred_origins(self) -> np.ndarray:
        """(grid * grid, 2) top-left (row, column) of each cell's centred tile, cells in row-major order."""
        start = (self.image_size - self.grid * self.cell) // 2 + self.slack
        rows, cols = np.divmod(np.arange(self.num_cells), self.grid)
        return np.stack([start + rows * self.cell, start + cols * self.cell], axis=1).astype(np.int32)


def jittered_origins(key, batch: int, layout: TileGrid) -> jax.Array:
    """(B, grid * grid, 2) int32 tile origins: the centred ones, each moved by its own uniform integer offset
    in [-jitter, jitter] along each axis."""
    offsets = jax.random.randint(key, (batch, layout.num_cells, 2), -layout.jitter, layout.jitter + 1)
    return jnp.asarray(layout.centred_origins()) + offsets.astype(jnp.int32)


def cut_tiles(images, origins, tile: int):
    """(B, T, tile, tile, C): for each image b and t, the tile whose top-left corner is origins[b, t]."""
    channels = images.shape[-1]

    def one(image, origin):
        return jax.lax.dynamic_slice(image, (origin[0], origin[1], 0), (tile, tile, channels))

    return jax.vmap(lambda image, corners: jax.vmap(lambda o: one(image, o))(corners))(images, origins)


def jigsaw(key, images, permutations: np.ndarray, layout: TileGrid):
    """Shuffled tiles (B, grid * grid, tile, tile, C) and their permutation indices (B,) int32.

    Each image draws a label l uniformly among the rows of `permutations` (from `permutation_set`) and its
    jittered tiles are reordered so that output tile i is the tile of cell permutations[l][i]; the network
    sees the tiles in that order and classifies l (Noroozi & Favaro 2016, section 3)."""
    if permutations.shape[1] != layout.num_cells:
        raise ValueError(
            f"permutations of {permutations.shape[1]} tiles do not fit a {layout.grid} x {layout.grid} grid"
        )
    label_key, jitter_key = jax.random.split(key)
    batch = images.shape[0]
    labels = jax.random.randint(label_key, (batch,), 0, permutations.shape[0], dtype=jnp.int32)
    tiles = cut_tiles(images, jittered_origins(jitter_key, batch, layout), layout.tile)
    order = jnp.asarray(permutations)[labels]
    return jnp.take_along_axis(tiles, order[:, :, None, None, None], axis=1), labels


def patch_pair(key, images, layout: TileGrid):
    """(B, 2, tile, tile, C): each image's centre patch and one of its 8 neighbours, and the neighbour's
    position label (B,) int32 in [0, 8) (Doersch et al. 2015, section 3: a 3 x 3 grid with gaps, each patch
    jittered on its own)."""
    if layout.grid != 3:
        raise ValueError(f"relative patch position uses a 3 x 3 grid, got {layout.grid} x {layout.grid}")
    label_key, jitter_key = jax.random.split(key)
    batch = images.shape[0]
    labels = jax.random.randint(label_key, (batch,), 0, len(NEIGHBOURS), dtype=jnp.int32)
    origins = jittered_origins(jitter_key, batch, layout)
    cells = jnp.stack([jnp.full((batch,), CENTRE, jnp.int32), jnp.asarray(NEIGHBOURS, jnp.int32)[labels]], 1)
    pair_origins = jnp.take_along_axis(origins, cells[:, :, None], axis=1)
    return cut_tiles(images, pair_origins, layout.tile), labels


def project_out_green_magenta(patches):
    """Each RGB pixel minus its component along the green-magenta axis (Doersch et al. 2015, section 3.1,
    "projection"): the colour shift of chromatic aberration no longer tells where a patch was in the frame."""
    axis = jnp.asarray(GREEN_MAGENTA, patches.dtype)
    return patches - jnp.tensordot(patches, axis, axes=1)[..., None] * axis


def drop_colors(key, patches):
    """Colour dropping (Doersch et al. 2015, section 3.1): each patch keeps one random channel of three and
    the two others become Gaussian noise with 1/100 of the kept channel's standard deviation, around its
    mean. patches: (B, T, t, t, 3)."""
    channel_key, noise_key = jax.random.split(key)
    kept_channel = jax.random.randint(channel_key, patches.shape[:2], 0, 3)
    keep = jax.nn.one_hot(kept_channel, 3, dtype=patches.dtype)[:, :, None, None, :]
    kept = jnp.sum(patches * keep, axis=-1, keepdims=True)
    mean = jnp.mean(kept, axis=(2, 3), keepdims=True)
    spread = jnp.std(kept, axis=(2, 3), keepdims=True)
    noise = mean + spread / 100.0 * jax.random.normal(noise_key, patches.shape, patches.dtype)
    return keep * patches + (1.0 - keep) * noise


def check_color_defence(defence: str) -> None:
    if defence not in COLOR_DEFENCES:
        raise ValueError(f"unknown colour defence {defence!r}; choose from {COLOR_DEFENCES}")


def defend_colors(key, patches, defence: str):
    """The chromatic-aberration defence `defence` of COLOR_DEFENCES on (B, T, t, t, C) patches; grayscale
    patches (C == 1) carry no colour and are returned unchanged."""
    check_color_defence(defence)
    if defence == "none" or patches.shape[-1] == 1:
        return patches
    if defence == "project":
        return project_out_green_magenta(patches)
    return drop_colors(key, patches)


def gray_examples(key, tiles, prob: float):
    """Every tile of an example turned to grayscale (luma in each channel) with probability `prob` per
    example: Noroozi & Favaro (2016, section 3.3) train on colour and grayscale images against chromatic
    aberration (the share of grayscale ones is this option). A no-op on grayscale tiles or at prob 0."""
    if prob == 0.0 or tiles.shape[-1] == 1:
        return tiles
    gray = jax.random.bernoulli(key, prob, tiles.shape[:1])[:, None, None, None, None]
    return jnp.where(gray, to_grayscale(tiles), tiles)


AB_GRID = 10  # the side of a quantised ab cell (Zhang, Isola and Efros 2016, section 2.1)


@functools.lru_cache(maxsize=2)
def ab_bins(lattice: int = 64) -> np.ndarray:
    """(Q, 2) float32 centres of the ab cells of side AB_GRID (centres at multiples of 10) that some sRGB
    colour falls in, found from a lattice^3 grid of sRGB colours: Q = 261 at the default lattice (and at
    128 or 256). Zhang et al. (2016) keep Q = 313 "in-gamut" cells by a looser test this set does not
    reproduce; the method is the same on any set of cells."""
    levels = np.linspace(0.0, 1.0, lattice, dtype=np.float32)
    colours = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    ab = np.asarray(rgb_to_lab(colours))[:, 1:]
    cells = np.unique(np.round(ab / AB_GRID).astype(np.int32), axis=0)
    return (cells * AB_GRID).astype(np.float32)


def soft_encode(ab, bins, neighbours: int = 5, sigma: float = 5.0):
    """(..., 2) ab values -> (..., Q) distributions over the bins (Zhang et al. 2016, section 2.1): each value's
    `neighbours` nearest bin centres weighted by a Gaussian of their distance (sigma in ab units), summing
    to one; every other bin gets zero."""
    bins = jnp.asarray(bins, jnp.float32)
    squared = jnp.sum(jnp.square(jnp.asarray(ab, jnp.float32)[..., None, :] - bins), axis=-1)
    negated, nearest = jax.lax.top_k(-squared, neighbours)
    weights = jax.nn.softmax(negated / (2.0 * sigma**2), axis=-1)
    return jnp.sum(jax.nn.one_hot(nearest, bins.shape[0]) * weights[..., None], axis=-2)


def rebalancing_weights(prior, bins, sigma: float = 5.0, mix: float = 0.5):
    """(Q,) class-rebalancing weights of Zhang et al. (2016, eq. 4): the empirical bin distribution `prior`
    smoothed by a Gaussian kernel of `sigma` over the bin centres (p~), mixed with the uniform one,
    w = ((1 - mix) p~ + mix / Q)^-1, then scaled so that the p~-expected weight is 1 (mix is the paper's
    lambda = 1/2). A uniform prior gives weights of one."""
    bins = jnp.asarray(bins, jnp.float32)
    squared = jnp.sum(jnp.square(bins[:, None, :] - bins[None, :, :]), axis=-1)
    kernel = jnp.exp(-squared / (2.0 * sigma**2))
    smoothed = kernel / jnp.sum(kernel, axis=1, keepdims=True) @ (prior / jnp.sum(prior))
    smoothed = smoothed / jnp.sum(smoothed)
    weights = 1.0 / ((1.0 - mix) * smoothed + mix / bins.shape[0])
    return weights / jnp.sum(smoothed * weights)


def annealed_mean(probabilities, bins, temperature: float = 0.38):
    """(..., Q) bin distributions -> (..., 2) ab: the mean of the distribution re-sharpened to temperature T
    (Zhang et al. 2016, eq. 5, T = 0.38), between the mean's desaturation and the mode's patchiness."""
    sharpened = jax.nn.softmax(jnp.log(jnp.maximum(probabilities, 1e-12)) / temperature, axis=-1)
    return sharpened @ jnp.asarray(bins, jnp.float32)


def flip_patches(key, patches, prob: float):
    """Each patch of (..., p, p, C) mirrored left-right with probability `prob`, independently."""
    flips = jax.random.bernoulli(key, prob, patches.shape[:-3])
    return jnp.where(flips[..., None, None, None], patches[..., ::-1, :], patches)
