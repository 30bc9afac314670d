"""Patches and masks for masked image modelling, as pure functions of static sizes.

Patch order is row-major over the patch grid, and each patch is flattened row-major as (p, p, C), so
`patchify(images)[:, i]` is the target of the ViT token `i` (`ViT.patch_tokens` uses the same order).
Counts of kept or masked patches are Python ints fixed when a method is made: every mask of a run has the
same shape and the same number of ones, so one executable serves every step.
"""

import functools
import math
from collections.abc import Callable

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
