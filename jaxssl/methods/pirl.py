"""PIRL (Misra and van der Maaten 2020, "Self-Supervised Learning of Pretext-Invariant Representations"): an
image's representation and its jigsaw-transformed version's, both drawn to its row of a memory bank."""

import jax
import jax.numpy as jnp

from jaxssl import losses
from jaxssl.augment import pretext
from jaxssl.methods.forward import dropout_rngs, forward
from jaxssl.methods.memory import check_bank_size, held_log_normalizer, random_bank
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.methods.tile_task import TILE_KEY_SALT
from jaxssl.models.heads import MLP
from jaxssl.models.pretext import PIRLNetwork, TileProjection

NEGATIVES_KEY_SALT = 2  # the negatives' draws: fold_in(loss key, 2), apart from the tiles' and dropout's


def negatives_besides(key, indices, count: int, num_examples: int):
    """(B, count) bank rows drawn uniformly among the num_examples examples other than each row's own image
    (the paper's D_N, drawn from the dataset without I): a draw r in [0, N - 1) skips the image's index."""
    draws = jax.random.randint(key, (indices.shape[0], count), 0, num_examples - 1)
    return draws + (draws >= indices[:, None]).astype(draws.dtype)


def shuffled_tiles(key, images, layout: pretext.TileGrid):
    """(B, T, t, t, C): each image's jittered tiles, one per cell of `layout` (the Jigsaw task's), in an order
    drawn for each image (g concatenates the tiles' projections in a random order, section 4.1)."""
    jitter_key, order_key = jax.random.split(key)
    tiles = pretext.cut_tiles(
        images, pretext.jittered_origins(jitter_key, images.shape[0], layout), layout.tile
    )
    order = jnp.argsort(jax.random.uniform(order_key, tiles.shape[:2]), axis=1)
    return jnp.take_along_axis(tiles, order[:, :, None, None, None], axis=1)


def make(
    context: MethodContext,
    *,
    projection_dim: int = 128,
    temperature: float = 0.07,
    memory_momentum: float = 0.5,
    num_negatives: int = 32000,
    mix: float = 0.5,
    grid: int = 3,
    tile_size: int = 64,
    jitter: int = 5,
) -> Method:
    """Per step (sections 3-4): views[0] is the image I and views[1] the image that the jigsaw transform t
    cuts (two draws of the augmentation). f(v_I) is a linear projection of the backbone's features of I to
    `projection_dim` (128); g(v_{I^t}) encodes each of the grid x grid tiles of I^t with the same backbone
    (the Jigsaw task's jittered tiles, pretext.cut_tiles, in a random order per image, each normalised with
    the dataset's mean and std), projects each to 128, concatenates them and projects to 128 (TileProjection).

    The memory bank in state.extra is InstDisc's (methods/memory.py random_bank: one row per training image,
    padded so that it splits over the devices): m_I is the image's row, moved after the step to
    normalize(m m_I + (1 - m) f(v_I)) with m = `memory_momentum` 0.5, the exponential moving average of its f.
    The loss is losses.pirl_nce (eq. 5-6): `num_negatives` rows of other images (32,000 in the paper), drawn
    each step, temperature 0.07, lambda = `mix` 0.5, and the normaliser Z estimated from the first step's
    jigsaw branch and then held (InstDisc's estimate, stored in state.extra). Bad sizes (a bank smaller than
    the batch, more negatives than other images, tiles that do not fit) fail here."""
    num_examples = context.num_examples
    check_bank_size(num_examples, context.global_batch, "pirl")
    if not 1 <= num_negatives < num_examples:
        raise ValueError(
            f"pirl draws its negatives among the other {num_examples - 1} images of the bank: num_negatives "
            f"must lie in [1, {num_examples - 1}], got {num_negatives}"
        )
    if not 0.0 <= mix <= 1.0:
        raise ValueError(f"pirl's mix (the paper's lambda) must lie in [0, 1], got {mix}")
    layout = pretext.TileGrid(context.image_size, grid, tile_size, jitter)
    network = PIRLNetwork(
        backbone=context.backbone,
        head=TileProjection(num_tiles=layout.num_cells, out_dim=projection_dim, dtype=context.dtype),
        num_tiles=layout.num_cells,
        tile_size=tile_size,
        standardize=False,
        image_mean=tuple(context.image_mean),
        image_std=tuple(context.image_std),
        projector=MLP(hidden_dims=(), out_dim=projection_dim, dtype=context.dtype),
    )

    def loss(params, inputs: LossInputs):
        image, transformed = inputs.views[:2]
        tiles = shuffled_tiles(jax.random.fold_in(inputs.key, TILE_KEY_SALT), transformed, layout)
        outputs, batch_stats = forward(
            network,
            {"params": params, "batch_stats": inputs.batch_stats},
            image,
            dropout_rngs(inputs.key, 0),
            method=lambda module, x, train: module(x, train, tiles=tiles),
        )
        f, g = outputs["projection"], outputs["tile_projection"]
        bank, indices = inputs.extra["bank"], inputs.indices
        negatives = negatives_besides(
            jax.random.fold_in(inputs.key, NEGATIVES_KEY_SALT), indices, num_negatives, num_examples
        )
        estimate = losses.nce_log_normalizer(
            jax.lax.stop_gradient(g), bank, negatives, temperature, num_examples
        )
        log_z = held_log_normalizer(inputs.extra["log_z"], estimate)
        value = losses.pirl_nce(f, g, bank, indices, negatives, temperature, log_z, mix, num_examples)
        return value, LossAux(
            batch_stats=batch_stats,
            metrics={"pirl_nce": value},
            features=outputs["features"],
            extra={
                "bank": losses.memory_update(bank, indices, f, memory_momentum),
                "log_z": jax.lax.stop_gradient(log_z),
            },
        )

    return Method(
        name="pirl",
        network=network,
        loss=loss,
        init_extra=lambda key: random_bank(key, num_examples, projection_dim),
        memories=(("bank", 0),),
    )
