"""The semi-supervised views' ops on one float32 image (H, W, C) in [0, 1]: reflect-padded translation (the
weak view), RandAugment, Cutout and Gaussian input noise.

RandAugment (Cubuk et al. 2020) applies N ops drawn uniformly with replacement from a list, each at a
magnitude m in [0, 1]; FixMatch (Sohn et al. 2020, table 12) draws m uniformly per op ("RA with random
magnitude") from this list of 14 ops. Each op is written here as parameters of three shared transforms
rather than as its own function: an image pays for one blend and one tone curve per op drawn and for one
resampling in all (the N warps composed), and what differs between ops are cheap per-image candidates chosen
by the op index (a gray image, its mean, a 3 x 3 smoothing, the channels' extremes and histograms):

- a blend x' = D + f (x - D) with a degenerate image D: brightness (D = 0), color (D = the grayscale image),
  contrast (D = the mean gray value), sharpness (D = the image smoothed by PIL's 3 x 3 SMOOTH kernel, its
  border left as it is); f = 1 + s 0.95 m with a random sign s, so f spans FixMatch's [0.05, 0.95] and its
  mirror [1.05, 1.95];
- a tone curve applied to every value: autocontrast (each channel stretched to [0, 1]), equalize (each
  channel's 256-level histogram equalised), posterize (8 - round(4 m) bits kept), solarize (values above
  1 - m inverted);
- an affine warp about the image centre, bilinear, filled with gray 0.5 (FixMatch's fill): rotate (s 30 m
  degrees), shear_x / shear_y (s 0.3 m), translate_x / translate_y (s 0.3 m of the side). The N ops' warps
  compose into one warp, applied after the blends and curves. That order differs from applying the ops one
  after the other only where a colour op would have seen a warped image: the fill (always 0.5 here), the
  statistics of autocontrast, equalize, contrast and sharpness (taken from the unwarped image), and the
  interpolation of the non-linear curves.

Every op with a magnitude is the identity at m = 0; autocontrast and equalize have none (the paper's) and
always act, as does identity.
"""

import math

import jax
import jax.numpy as jnp

from jaxssl.augment.color import luma

OPS = (
    "identity",
    "autocontrast",
    "equalize",
    "brightness",
    "color",
    "contrast",
    "sharpness",
    "posterize",
    "solarize",
    "rotate",
    "shear_x",
    "shear_y",
    "translate_x",
    "translate_y",
)
BLEND_OPS = ("brightness", "color", "contrast", "sharpness")
CURVE_OPS = ("autocontrast", "equalize", "posterize", "solarize")
WARP_OPS = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
MAX_FACTOR_CHANGE = 0.95
MAX_ROTATION_DEGREES = 30.0
MAX_SHEAR = 0.3
MAX_TRANSLATION = 0.3
MAX_POSTERIZE_DROP = 4  # bits
FILL = 0.5
LEVELS = 256


def _op_is(op, names) -> jax.Array:
    return jnp.isin(op, jnp.asarray([OPS.index(name) for name in names]))


def smooth(image) -> jax.Array:
    """PIL's ImageFilter.SMOOTH ([[1, 1, 1], [1, 5, 1], [1, 1, 1]] / 13) on the interior; the one-pixel
    border keeps its values, as PIL's ImageEnhance.Sharpness leaves it."""
    padded = jnp.pad(image, ((1, 1), (1, 1), (0, 0)), mode="edge")
    height, width = image.shape[0], image.shape[1]
    total = sum(padded[i : i + height, j : j + width] for i in range(3) for j in range(3)) + 4 * image
    interior = jnp.zeros((height, width, 1), bool).at[1:-1, 1:-1].set(True)
    return jnp.where(interior, total / 13.0, image)


def blend(image, op, magnitude, sign) -> jax.Array:
    """brightness, color, contrast or sharpness at `magnitude` and `sign`; other ops leave the image."""
    index = lambda name: op == OPS.index(name)  # noqa: E731
    gray = jnp.broadcast_to(luma(image), image.shape)
    degenerate = jnp.where(
        index("color"),
        gray,
        jnp.where(index("contrast"), jnp.mean(gray), jnp.where(index("sharpness"), smooth(image), 0.0)),
    )
    factor = jnp.where(_op_is(op, BLEND_OPS), 1.0 + sign * MAX_FACTOR_CHANGE * magnitude, 1.0)
    return jnp.where(factor == 1.0, image, jnp.clip(degenerate + factor * (image - degenerate), 0.0, 1.0))


def equalize_table(levels) -> jax.Array:
    """PIL's ImageOps.equalize for one channel of integer levels (H, W) in [0, 255]: the level-to-level table
    (256,) whose steps follow the cumulative histogram, leaving out the count of the highest level present;
    the identity when one level holds (almost) every pixel."""
    histogram = jnp.zeros(LEVELS, jnp.int32).at[levels.reshape(-1)].add(1)
    top = jnp.max(jnp.where(histogram > 0, jnp.arange(LEVELS), 0))
    step = (levels.size - histogram[top]) // (LEVELS - 1)
    below = jnp.cumsum(histogram) - histogram
    table = jnp.minimum((below + step // 2) // jnp.maximum(step, 1), LEVELS - 1)
    return jnp.where(step > 0, table, jnp.arange(LEVELS))


def tone_curve(image, op, magnitude) -> jax.Array:
    """autocontrast, equalize, posterize or solarize at `magnitude`; other ops leave the image."""
    index = lambda name: op == OPS.index(name)  # noqa: E731
    low = jnp.min(image, axis=(0, 1))
    high = jnp.max(image, axis=(0, 1))
    stretched = jnp.where(high > low, (image - low) / jnp.where(high > low, high - low, 1.0), image)
    levels = jnp.round(image * (LEVELS - 1)).astype(jnp.int32)
    tables = jax.vmap(equalize_table, in_axes=-1, out_axes=-1)(levels)
    equalized = jnp.take_along_axis(tables, levels.reshape(-1, image.shape[-1]), axis=0).reshape(image.shape)
    dropped = jnp.round(MAX_POSTERIZE_DROP * magnitude).astype(jnp.int32)
    posterized = (levels >> dropped) << dropped
    curved = jnp.where(
        index("autocontrast"),
        stretched,
        jnp.where(
            index("equalize"),
            equalized / (LEVELS - 1),
            jnp.where(
                index("posterize"),
                jnp.where(dropped > 0, posterized / (LEVELS - 1), image),
                jnp.where(image > 1.0 - magnitude, 1.0 - image, image),
            ),
        ),
    )
    return jnp.where(_op_is(op, CURVE_OPS), curved, image)


def warp_matrix(op, magnitude, sign, size: int) -> jax.Array:
    """The 3 x 3 matrix taking an output pixel's (row, column, 1), centred on the image, to the input point
    it samples: rotate, shear_x, shear_y, translate_x or translate_y at `magnitude` and `sign`; the identity
    for other ops."""
    index = lambda name: op == OPS.index(name)  # noqa: E731
    angle = sign * magnitude * math.radians(MAX_ROTATION_DEGREES)
    shear = sign * magnitude * MAX_SHEAR
    shift = sign * magnitude * MAX_TRANSLATION * size
    cos, sin = jnp.cos(angle), jnp.sin(angle)
    one, zero = jnp.ones(()), jnp.zeros(())
    rotate = jnp.array([[cos, -sin, zero], [sin, cos, zero], [zero, zero, one]])
    shear_x = jnp.array([[one, zero, zero], [shear, one, zero], [zero, zero, one]])
    shear_y = jnp.array([[one, shear, zero], [zero, one, zero], [zero, zero, one]])
    translate_x = jnp.array([[one, zero, zero], [zero, one, shift], [zero, zero, one]])
    translate_y = jnp.array([[one, zero, shift], [zero, one, zero], [zero, zero, one]])
    return jnp.where(
        index("rotate"),
        rotate,
        jnp.where(
            index("shear_x"),
            shear_x,
            jnp.where(
                index("shear_y"),
                shear_y,
                jnp.where(
                    index("translate_x"),
                    translate_x,
                    jnp.where(index("translate_y"), translate_y, jnp.eye(3)),
                ),
            ),
        ),
    )


def warp(image, matrix) -> jax.Array:
    """The image sampled bilinearly at matrix @ (row, column, 1) about its centre, 0.5 outside it."""
    height, width = image.shape[0], image.shape[1]
    centre = jnp.array([(height - 1) / 2, (width - 1) / 2])
    rows, columns = jnp.meshgrid(
        jnp.arange(height, dtype=jnp.float32), jnp.arange(width, dtype=jnp.float32), indexing="ij"
    )
    points = jnp.stack([rows - centre[0], columns - centre[1], jnp.ones_like(rows)])
    source = jnp.tensordot(matrix, points, axes=1)[:2] + centre[:, None, None]
    sample = lambda channel: jax.scipy.ndimage.map_coordinates(  # noqa: E731
        channel, list(source), order=1, mode="constant", cval=FILL
    )
    return jax.vmap(sample, in_axes=-1, out_axes=-1)(image)


def apply_op(image, op, magnitude, sign) -> jax.Array:
    """One op (an index into OPS) at `magnitude` in [0, 1] and `sign` (+1 or -1), warp included."""
    image = tone_curve(blend(image, op, magnitude, sign), op, magnitude)
    return warp(image, warp_matrix(op, magnitude, sign, image.shape[0]))


def randaugment(key, image, num_ops: int, magnitude: tuple[float, float] = (0.0, 1.0)) -> jax.Array:
    """RandAugment: `num_ops` ops drawn uniformly with replacement from OPS, each at a magnitude uniform in
    `magnitude` ((0, 1) is FixMatch's random magnitude; (m, m) the original fixed M) and a random sign; the
    blends and curves in the order drawn, then their composed warp."""
    op_key, magnitude_key, sign_key = jax.random.split(key, 3)
    ops = jax.random.randint(op_key, (num_ops,), 0, len(OPS))
    magnitudes = jax.random.uniform(magnitude_key, (num_ops,), minval=magnitude[0], maxval=magnitude[1])
    signs = jnp.where(jax.random.bernoulli(sign_key, 0.5, (num_ops,)), 1.0, -1.0)
    matrix = jnp.eye(3)
    for index in range(num_ops):
        image = tone_curve(
            blend(image, ops[index], magnitudes[index], signs[index]), ops[index], magnitudes[index]
        )
        matrix = matrix @ warp_matrix(ops[index], magnitudes[index], signs[index], image.shape[0])
    return jnp.where(jnp.all(matrix == jnp.eye(3)), image, warp(image, matrix))


def cutout(key, image, max_fraction: float) -> jax.Array:
    """Cutout (DeVries and Taylor 2017) as FixMatch draws it: a square of side uniform in [0, max_fraction] of
    the image side, centred anywhere on the image (clipped at its edges), filled with gray 0.5."""
    side_key, row_key, column_key = jax.random.split(key, 3)
    height, width = image.shape[0], image.shape[1]
    half = jax.random.uniform(side_key, minval=0.0, maxval=max_fraction) * min(height, width) / 2
    centre_row = jax.random.uniform(row_key, minval=0.0, maxval=height)
    centre_column = jax.random.uniform(column_key, minval=0.0, maxval=width)
    rows = jnp.arange(height, dtype=jnp.float32)[:, None] + 0.5
    columns = jnp.arange(width, dtype=jnp.float32)[None, :] + 0.5
    inside = (jnp.abs(rows - centre_row) < half) & (jnp.abs(columns - centre_column) < half)
    return jnp.where(inside[..., None], FILL, image)


def random_translate(key, image, max_fraction: float) -> jax.Array:
    """The weak view's translation: the image shifted by whole pixels, uniform in [-p, p] on each axis,
    p = round(max_fraction x side) (4 px at 32 px for FixMatch's 12.5 %), the uncovered border filled by
    reflection (pad by p with reflection, then a random crop of the original size)."""
    height, width = image.shape[0], image.shape[1]
    pad = round(max_fraction * min(height, width))
    if pad == 0:
        return image
    padded = jnp.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="reflect")
    top, left = jax.random.randint(key, (2,), 0, 2 * pad + 1)
    return jax.lax.dynamic_slice(padded, (top, left, 0), image.shape)


def gaussian_noise(key, image, std: float) -> jax.Array:
    """x + std n, n ~ N(0, 1) per value, not clipped (Mean Teacher's input noise)."""
    return image + std * jax.random.normal(key, image.shape, image.dtype)
