"""Networks of the classification pretext tasks: a head on the whole image (RotNet) or on tiles (Jigsaw,
relative patch position); and PIRL's, which embeds an image and its tiles rather than classifying them.

Both follow the network contract of models/network.py: `features(x, train)` is the backbone on the whole
normalised image, as the papers transfer and probe it; `__call__(x, train)` on a full-image batch creates
every parameter. The backbone is the attribute `backbone`, so its params load into a classifier unchanged;
the head is pretraining-only.
"""

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jaxssl.models.network import FeatureNetwork, normalize


class PretextNetwork(FeatureNetwork):
    """x in [0, 1] -> {"features": backbone output, "logits": head(features)}: the network of RotNet."""

    head: nn.Module

    def __call__(self, x, train: bool):
        features = self.features(x, train)
        return {"features": features, "logits": self.head(features, train=train)}


def standardize_tiles(tiles, eps: float = 1e-5):
    """Each tile of (N, t, t, C) standardised per channel by its own mean and standard deviation over its
    pixels (Noroozi & Favaro 2016, section 3.3: a tile's low-level statistics then do not tell where it
    belongs). A flat tile stays at zero."""
    mean = jnp.mean(tiles, axis=(1, 2), keepdims=True)
    std = jnp.std(tiles, axis=(1, 2), keepdims=True)
    return (tiles - mean) / (std + eps)


class TileNetwork(FeatureNetwork):
    """A shared backbone on each of `num_tiles` tiles, their features concatenated in tile order, and a head
    on the concatenation (Noroozi & Favaro 2016, figure 3; Doersch et al. 2015, figure 3).

    `classify(tiles (B, T, t, t, C) in [0, 1], train)` -> logits: what the loss calls on the tiles the
    pretext transform cut. Tiles are standardised one by one when `standardize` (Jigsaw), else with the
    dataset's mean and std as whole images are (relative patch position). `__call__` exists to create the
    parameters from a full-image batch: it returns {"features"} of the images and the logits of T copies of
    their top-left `tile_size` square (a shape, not a task).
    """

    head: nn.Module
    num_tiles: int
    tile_size: int
    standardize: bool

    def tile_features(self, tiles, train: bool):
        """(B, T, t, t, C) tiles in [0, 1] -> (B, T * D): each tile's backbone features, in tile order."""
        batch, count = tiles.shape[:2]
        flat = tiles.reshape((batch * count,) + tiles.shape[2:])
        x = standardize_tiles(flat) if self.standardize else normalize(flat, self.image_mean, self.image_std)
        return self.backbone(x, train=train).reshape(batch, -1)

    def classify(self, tiles, train: bool):
        if tiles.shape[1:3] != (self.num_tiles, self.tile_size):
            raise ValueError(
                f"expected (B, {self.num_tiles}, {self.tile_size}, {self.tile_size}, C) tiles, got {tiles.shape}"
            )
        return self.head(self.tile_features(tiles, train), train=train)

    def corner_tiles(self, x):
        """(B, T, t, t, C): T copies of the images' top-left `tile_size` square, tiles of the right shape."""
        corner = x[:, None, : self.tile_size, : self.tile_size]
        return jnp.broadcast_to(corner, (x.shape[0], self.num_tiles) + corner.shape[2:])

    def __call__(self, x, train: bool):
        return {"features": self.features(x, train), "logits": self.classify(self.corner_tiles(x), train)}


class TileProjection(nn.Module):
    """g's head on a TileNetwork's concatenated tile features (B, T * D) (Misra and van der Maaten 2020, section
    4.1): each tile's features projected to `out_dim` by one shared linear layer, the T projections concatenated
    in tile order, and projected again to `out_dim`."""

    num_tiles: int
    out_dim: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        per_tile = x.reshape(x.shape[0], self.num_tiles, -1).astype(self.dtype)
        dense = functools.partial(nn.Dense, self.out_dim, dtype=self.dtype, param_dtype=jnp.float32)
        projected = dense(name="tile")(per_tile)
        return dense(name="out")(projected.reshape(x.shape[0], -1)).astype(jnp.float32)


class PIRLNetwork(TileNetwork):
    """PIRL's network (Misra and van der Maaten 2020, section 3): f(v_I), `projector` on the backbone's features
    of the whole image, and g(v_{I^t}), the TileNetwork's `head` (a TileProjection) on the features of its
    tiles, every tile encoded by the same backbone.

    `__call__(x, train, tiles=None)` -> {"features", "projection": f, "tile_projection": g of `tiles` (B, T, t,
    t, C) in [0, 1], or of the corner tiles when none are given (to create the parameters)}."""

    projector: nn.Module

    def __call__(self, x, train: bool, tiles=None):
        features = self.features(x, train)
        tiles = self.corner_tiles(x) if tiles is None else tiles
        return {
            "features": features,
            "projection": self.projector(features, train=train),
            "tile_projection": self.classify(tiles, train),
        }
