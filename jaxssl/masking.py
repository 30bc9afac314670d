"""Patches and masks for masked image modelling, as pure functions of static sizes.

Patch order is row-major over the patch grid, and each patch is flattened row-major as (p, p, C), so
`patchify(images)[:, i]` is the target of the ViT token `i` (`ViT.patch_tokens` uses the same order).
Counts of kept or masked patches are Python ints fixed when a method is made: every mask of a run has the
same shape and the same number of ones, so one executable serves every step.
"""

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp


def keep_count(num_patches: int, mask_ratio: float) -> int:
    """Visible patches when a fraction `mask_ratio` of `num_patches` is masked: int(L * (1 - ratio)).

    Raises ValueError for a ratio outside (0, 1) or when no patch would stay visible.
    """
    if not 0.0 < mask_ratio < 1.0:
        raise ValueError(f"mask_ratio must be in (0, 1), got {mask_ratio!r}")
    keep = int(num_patches * (1.0 - mask_ratio))
    if keep < 1:
        raise ValueError(f"mask_ratio {mask_ratio} of {num_patches} patches keeps no patch visible")
    return keep


def patchify(images: jax.Array, patch: int) -> jax.Array:
    """(B, H, W, C) -> (B, L, p * p * C) with L = (H / p) (W / p), patches in row-major order."""
    batch, height, width, channels = images.shape
    if height % patch or width % patch:
        raise ValueError(f"patch {patch} does not divide the image size {(height, width)}")
    h, w = height // patch, width // patch
    x = images.reshape(batch, h, patch, w, patch, channels)
    x = jnp.transpose(x, (0, 1, 3, 2, 4, 5))  # (B, h, w, p, p, C)
    return x.reshape(batch, h * w, patch * patch * channels)


def unpatchify(patches: jax.Array, patch: int, channels: int) -> jax.Array:
    """(B, L, p * p * C) -> (B, H, W, C): the inverse of `patchify` for square images (L a square)."""
    batch, length, size = patches.shape
    side = math.isqrt(length)
    if side * side != length or size != patch * patch * channels:
        raise ValueError(
            f"cannot unpatchify {patches.shape} into square images of {patch} px patches, {channels} channels"
        )
    x = patches.reshape(batch, side, side, patch, patch, channels)
    x = jnp.transpose(x, (0, 1, 3, 2, 4, 5))  # (B, h, p, w, p, C)
    return x.reshape(batch, side * patch, side * patch, channels)


def random_masking(key: jax.Array, batch: int, num_patches: int, keep: int):
    """MAE's per-example random masking (He et al. 2022, section 3, "Masking" and "Simple implementation").

    Each row draws uniform noise over its L patches and sorts it; the first `keep` patches of the sorted
    order stay visible. Returns
      ids_keep (B, keep) int32: the visible patches, in shuffled order (gather the tokens with it);
      ids_restore (B, L) int32: the inverse permutation, so that a shuffled sequence [visible, masked]
        gathered along axis 1 by ids_restore is back in patch order;
      mask (B, L) float32: 1 on masked patches, 0 on visible ones, in patch order (exactly L - keep ones).
    `keep` is a static Python int (see `keep_count`).
    """
    if not 0 < keep <= num_patches:
        raise ValueError(f"keep must be in [1, {num_patches}], got {keep!r}")
    noise = jax.random.uniform(key, (batch, num_patches))
    ids_shuffle = jnp.argsort(noise, axis=1).astype(jnp.int32)
    ids_restore = jnp.argsort(ids_shuffle, axis=1).astype(jnp.int32)  # the rank of each patch
    mask = (ids_restore >= keep).astype(jnp.float32)
    return ids_shuffle[:, :keep], ids_restore, mask


def block_mask(
    key: jax.Array, batch: int, image_size: int, patch_size: int, mask_patch: int, mask_ratio: float
) -> jax.Array:
    """SimMIM's random masking with large mask patches (Xie et al. 2022, section 3.1).

    The image is cut into (image_size / mask_patch)^2 coarse cells; each row masks exactly
    M = cells - keep_count(cells, mask_ratio) of them at random (at least the ratio, so 22 of 36 cells
    for the paper's 32 px mask patches on 192 px images at ratio 0.6); then each coarse cell is spread
    over the (mask_patch / patch_size)^2 model patches it covers. Returns (B, L) float32, 1 on masked
    patches, L = (image_size / patch_size)^2 in row-major order, as `patchify` and the ViT tokens.
    mask_patch must be a multiple of patch_size and divide image_size.
    """
    if mask_patch % patch_size or image_size % mask_patch:
        raise ValueError(
            f"mask_patch {mask_patch} must be a multiple of patch_size {patch_size} and divide image_size {image_size}"
        )
    coarse = image_size // mask_patch
    cells = coarse * coarse
    _, _, mask = random_masking(key, batch, cells, keep_count(cells, mask_ratio))
    scale = mask_patch // patch_size
    mask = mask.reshape(batch, coarse, 1, coarse, 1)
    mask = jnp.broadcast_to(mask, (batch, coarse, scale, coarse, scale))
    return mask.reshape(batch, (coarse * scale) ** 2)


def block_mask_fn(
    grid: int, patch_size: int, mask_patch: int, mask_ratio: float
) -> Callable[[jax.Array, int], jax.Array]:
    """`block_mask` for a model with a `grid` x `grid` patch grid, its sizes checked now (when a method is
    made) rather than at the first step: returns (key, batch) -> (B, grid * grid) float32 mask."""
    image_size = grid * patch_size
    if mask_patch % patch_size or image_size % mask_patch:
        raise ValueError(
            f"mask_patch {mask_patch} must be a multiple of patch_size {patch_size} and divide image_size {image_size}"
        )
    keep_count((image_size // mask_patch) ** 2, mask_ratio)
    return functools.partial(
        block_mask, image_size=image_size, patch_size=patch_size, mask_patch=mask_patch, mask_ratio=mask_ratio
    )


def paste_visible(pred: jax.Array, target: jax.Array, mask: jax.Array) -> jax.Array:
    """Predicted patches where `mask` is 1, the true ones elsewhere: (B, L, P) each, mask (B, L)."""
    return jnp.where(mask[:, :, None] > 0, pred, target)


def blank_masked(patches: jax.Array, mask: jax.Array, value: float) -> jax.Array:
    """`patches` (B, L, P) with every masked patch (mask 1) set to `value`: the input as a figure shows it."""
    return jnp.where(mask[:, :, None] > 0, jnp.asarray(value, patches.dtype), patches)


class MultiblockSizes(NamedTuple):
    """The static side of I-JEPA's multi-block masks on one token grid (`check_multiblock`).

    target_shapes, context_shapes: every (h, w) block a target or the context may take; target_tokens: the
    tokens each target mask keeps (the smallest target area); guaranteed_context: the context tokens left in
    the worst case the sampler allows (the smallest context block less the largest target block)."""

    target_shapes: tuple[tuple[int, int], ...]
    context_shapes: tuple[tuple[int, int], ...]
    target_tokens: int
    guaranteed_context: int


def block_shapes(
    grid: tuple[int, int], scale: tuple[float, float], aspect: tuple[float, float]
) -> tuple[tuple[int, int], ...]:
    """Every (h, w) block of an (H, W) token grid whose area h w / (H W) lies in `scale` and whose aspect
    ratio h / w lies in `aspect`, bounds included."""
    rows, cols = grid
    tolerance = 1e-9
    return tuple(
        (h, w)
        for h in range(1, rows + 1)
        for w in range(1, cols + 1)
        if scale[0] - tolerance <= h * w / (rows * cols) <= scale[1] + tolerance
        and aspect[0] - tolerance <= h / w <= aspect[1] + tolerance
    )


def check_multiblock(
    grid: tuple[int, int],
    num_targets: int,
    target_scale: tuple[float, float],
    target_aspect: tuple[float, float],
    context_scale: tuple[float, float],
    context_aspect: tuple[float, float],
    min_keep: int,
) -> MultiblockSizes:
    """The static sizes of `multiblock_masks`, or one ValueError for masks that cannot be drawn: scales outside
    (0, 1) (a context may cover the whole grid), aspects that are not positive, no block of the asked scale
    and aspect on the grid, or fewer than `min_keep` context tokens left beside a target."""
    rows, cols = grid
    if min(rows, cols) < 1 or not isinstance(num_targets, int) or num_targets < 1:
        raise ValueError(
            f"multi-block masks need a token grid and num_targets >= 1, got {grid}, {num_targets!r}"
        )
    if not 0.0 < target_scale[0] <= target_scale[1] < 1.0:
        raise ValueError(
            f"target_scale must be a pair (lo, hi) with 0 < lo <= hi < 1, got {tuple(target_scale)}"
        )
    if not 0.0 < context_scale[0] <= context_scale[1] <= 1.0:
        raise ValueError(
            f"context_scale must be a pair (lo, hi) with 0 < lo <= hi <= 1, got {tuple(context_scale)}"
        )
    for name, (low, high) in (("target_aspect", target_aspect), ("context_aspect", context_aspect)):
        if not 0.0 < low <= high:
            raise ValueError(f"{name} must be a pair (lo, hi) with 0 < lo <= hi, got {(low, high)}")
    shapes = {}
    for name, scale, aspect in (
        ("target", target_scale, target_aspect),
        ("context", context_scale, context_aspect),
    ):
        shapes[name] = block_shapes(grid, scale, aspect)
        if not shapes[name]:
            raise ValueError(
                f"no {name} block of scale {tuple(scale)} and aspect {tuple(aspect)} fits the {rows} x {cols} "
                "token grid: widen the ranges or use a finer grid (smaller patches)"
            )
    areas = lambda name: [h * w for h, w in shapes[name]]  # noqa: E731
    guaranteed = min(areas("context")) - max(areas("target"))
    if not isinstance(min_keep, int) or not 1 <= min_keep <= guaranteed:
        raise ValueError(
            f"min_keep must be an int in [1, {guaranteed}] on the {rows} x {cols} grid (the smallest context block, "
            f"{min(areas('context'))} tokens, less the largest target block, {max(areas('target'))}), got {min_keep!r}"
        )
    return MultiblockSizes(shapes["target"], shapes["context"], min(areas("target")), guaranteed)


def _random_block(key: jax.Array, grid: tuple[int, int], shapes) -> jax.Array:
    """(H W,) bool: a block of one of `shapes` (drawn uniformly) at a uniformly drawn place on the grid."""
    rows, cols = grid
    shape_key, top_key, left_key = jax.random.split(key, 3)
    table = jnp.asarray(shapes, jnp.int32)
    height, width = table[jax.random.randint(shape_key, (), 0, len(shapes))]
    top = jax.random.randint(top_key, (), 0, rows - height + 1)
    left = jax.random.randint(left_key, (), 0, cols - width + 1)
    row, col = jnp.arange(rows)[:, None], jnp.arange(cols)[None, :]
    block = (row >= top) & (row < top + height) & (col >= left) & (col < left + width)
    return block.reshape(-1)


def multiblock_masks(
    key: jax.Array,
    grid: tuple[int, int],
    num_targets: int = 4,
    target_scale: tuple[float, float] = (0.15, 0.2),
    target_aspect: tuple[float, float] = (0.75, 1.5),
    context_scale: tuple[float, float] = (0.85, 1.0),
    min_keep: int = 10,
    context_aspect: tuple[float, float] = (1.0, 1.0),
    tries: int = 8,
) -> tuple[jax.Array, jax.Array]:
    """I-JEPA's multi-block masks of one image (Assran et al. 2023, section 3 and figure 4), with static counts.

    On the (H, W) token grid (row-major, as `patchify` and the ViT tokens): `num_targets` target blocks, each
    of a shape (h, w) drawn uniformly among those of area h w / (H W) in `target_scale` and aspect h / w in
    `target_aspect`, placed uniformly (targets may overlap each other); one context block drawn the same way
    from `context_scale` and `context_aspect`, less every target block, so that the targets are disjoint from
    the context. A draw that leaves fewer than `min_keep` context tokens is redrawn, up to `tries` times;
    after that every target takes the last draw's first block, which leaves at least `min_keep` (checked by
    `check_multiblock`).

    Counts are static, so the masks gather into fixed shapes: the context keeps exactly `min_keep` tokens, a
    uniformly drawn subset of what the draw leaves (I-JEPA's collator cuts every context of a batch to the
    batch's smallest; here the count is fixed for the run), and each target keeps its block's first
    `target_tokens` (the smallest target area) in row-major order, so a larger block loses its last rows'
    tokens from the prediction (they stay out of the context). Returns (context (H W,) bool with min_keep
    ones, targets (num_targets, H W) bool with target_tokens ones each); vmap it over keys for a batch.
    """
    rows, cols = grid
    sizes = check_multiblock(
        grid, num_targets, target_scale, target_aspect, context_scale, context_aspect, min_keep
    )

    def draw(attempt_key):
        target_key, context_key = jax.random.split(attempt_key)
        targets = jax.vmap(lambda k: _random_block(k, grid, sizes.target_shapes))(
            jax.random.split(target_key, num_targets)
        )
        return targets, _random_block(context_key, grid, sizes.context_shapes)

    draws_key, keep_key = jax.random.split(key)
    targets, contexts = jax.vmap(draw)(jax.random.split(draws_key, tries))  # (R, T, L), (R, L)
    free = contexts & ~jnp.any(targets, axis=1)
    enough = jnp.sum(free, axis=1) >= min_keep
    first = jnp.argmax(enough)
    fallback = jnp.broadcast_to(targets[-1, :1], targets.shape[1:])
    targets = jnp.where(enough[first], targets[first], fallback)
    free = jnp.where(enough[first], free[first], contexts[-1] & ~targets[0])
    priority = jnp.where(free, jax.random.uniform(keep_key, free.shape), -1.0)
    kept = jax.lax.top_k(priority, min_keep)[1]
    context = jnp.zeros((rows * cols,), bool).at[kept].set(True)
    targets = targets & (jnp.cumsum(targets, axis=1) <= sizes.target_tokens)
    return context, targets


def mask_indices(mask: jax.Array, count: int) -> jax.Array:
    """int32 (..., count): the positions of the `count` ones of each boolean row of `mask` (..., L), in
    increasing order: the static-size gather indices of a mask with exactly `count` ones."""
    return jnp.argsort(~mask, axis=-1, stable=True)[..., :count].astype(jnp.int32)
