"""ContrastiveCrop (Peng et al. 2022, "Crafting Better Contrastive Views for Siamese Representation Learning"):
each example's crops are drawn inside a box around what the model attends to, with the crop centre pushed
away from the box's middle.

Semantic-aware localisation (their section 3.2): the heat map of an image is the channel sum of the model's
last feature map, upsampled to the image and min-max normalised; the box is the bounding box of the pixels at
or above `threshold` (k = 0.1). Centre-suppressed sampling (section 3.3): the crop's area and aspect ratio are
drawn as RandomResizedCrop draws them, and its centre at box_lo + Beta(alpha, alpha) (box_hi - box_lo) along
each axis (alpha < 1 favours the box's edges, so the two views of an image overlap less), the crop then kept
inside the image. Before the first boxes exist the crops are RandomResizedCrop's (the paper's warm-up).

The policy's state, kept in TrainState.crop and checkpointed with it: `boxes` (N, 4), the boxes crops are drawn
in; `pending` (N, 4), the boxes being located; `located`, 1 once boxes replaced the whole image. Boxes are
[top, left, bottom, right] fractions of the stored image. Deviation from the paper, as DeepCluster-v2's memory:
the boxes are located by the model as it trains through the epoch before each refresh, not by a frozen model
in a separate pass over the data.
"""

import dataclasses

import jax
import jax.numpy as jnp

WHOLE_IMAGE = (0.0, 0.0, 1.0, 1.0)


def heat_map(feature_map, height: int, width: int) -> jax.Array:
    """(h, w, C) feature map -> (height, width) heat map in [0, 1]: channel sum, bilinear upsampling, min-max
    normalisation (a constant map gives zeros)."""
    heat = jax.image.resize(jnp.sum(feature_map.astype(jnp.float32), axis=-1), (height, width), "linear")
    low, high = jnp.min(heat), jnp.max(heat)
    return (heat - low) / jnp.maximum(high - low, jnp.finfo(jnp.float32).tiny)


def box_of(heat, threshold: float) -> jax.Array:
    """The bounding box of the pixels of `heat` (H, W) at or above `threshold`, as [top, left, bottom, right]
    fractions of the image (bottom and right exclusive); the whole image when no pixel passes."""
    height, width = heat.shape
    rows, cols = jnp.any(heat >= threshold, axis=1), jnp.any(heat >= threshold, axis=0)
    top, bottom = jnp.argmax(rows), height - jnp.argmax(rows[::-1])
    left, right = jnp.argmax(cols), width - jnp.argmax(cols[::-1])
    box = jnp.stack([top / height, left / width, bottom / height, right / width]).astype(jnp.float32)
    return jnp.where(jnp.any(rows), box, jnp.asarray(WHOLE_IMAGE, jnp.float32))


def locate(feature_maps, height: int, width: int, threshold: float) -> tuple[jax.Array, jax.Array]:
    """(heat maps (B, height, width), boxes (B, 4)) of a batch of feature maps (B, h, w, C)."""
    heat = jax.vmap(lambda m: heat_map(m, height, width))(feature_maps)
    return heat, jax.vmap(lambda h: box_of(h, threshold))(heat)


def place_in_box(key, extent: int, side, low, high, alpha) -> jax.Array:
    """Start of a crop of length `side` on an axis of length `extent` whose centre is drawn at
    low + Beta(alpha, alpha) (high - low) (fractions of the axis), the crop kept inside the axis. With the whole
    axis (0, 1) and alpha = 1 this is RandomResizedCrop's uniform start in [0, extent - side]."""
    start_low = jnp.clip(low * extent - side / 2, 0.0, extent - side)
    start_high = jnp.clip(high * extent - side / 2, 0.0, extent - side)
    return start_low + jax.random.beta(key, alpha, alpha) * (start_high - start_low)


@dataclasses.dataclass(frozen=True)
class ContrastiveCrop:
    """The crop policy of one run.

    num_examples: size of the training split. global_batch: rows per step (step s holds rows s x global_batch
    onwards of the epoch-after-epoch stream). warmup_epochs: epochs of RandomResizedCrop before the first
    boxes. every_epochs: epochs between refreshes (each refresh's boxes are located during the epoch before
    it). threshold: k of the heat map. alpha: the crop centre's Beta parameter.
    """

    num_examples: int
    global_batch: int
    warmup_epochs: int
    every_epochs: int
    threshold: float = 0.1
    alpha: float = 0.6

    def __post_init__(self):
        if self.warmup_epochs < 1 or self.every_epochs < 1:
            raise ValueError(
                "ContrastiveCrop needs warmup_epochs >= 1 (the first boxes come from a trained model) and "
                f"every_epochs >= 1 (each refresh locates a whole epoch), got {self.warmup_epochs} and "
                f"{self.every_epochs}"
            )
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"ContrastiveCrop's threshold must lie in (0, 1), got {self.threshold}")
        if not self.alpha > 0.0:
            raise ValueError(f"ContrastiveCrop's alpha must be positive, got {self.alpha}")

    def init(self) -> dict:
        """Every example's box the whole image, none located yet."""
        whole = jnp.broadcast_to(jnp.asarray(WHOLE_IMAGE, jnp.float32), (self.num_examples, 4))
        return {"boxes": whole, "pending": whole, "located": jnp.zeros((), jnp.int32)}

    def epoch_of_row(self, step, row) -> jax.Array:
        """The epoch of row `row` of `step`'s batch (float32 arithmetic, as MethodContext.epoch_of)."""
        position = jnp.asarray(step, jnp.float32) * self.global_batch + row
        return jnp.floor(position / self.num_examples).astype(jnp.int32)

    def refreshes_at(self, epoch) -> jax.Array:
        """Whether boxes are refreshed at the start of `epoch`."""
        since = epoch - self.warmup_epochs
        return (since >= 0) & (since % self.every_epochs == 0)

    def update(self, state: dict, step, indices, last_feature_maps, size: int) -> dict:
        """The state after `step`'s batch: its rows of an epoch before a refresh get located boxes in
        `pending` (last_feature_maps() -> (B, h, w, C), the model's last feature map of the batch's whole
        images resized to size x size, called only then), and at the first step of a refresh epoch `pending`
        becomes `boxes`."""
        first, last = self.epoch_of_row(step, 0), self.epoch_of_row(step, self.global_batch - 1)

        def located():
            _, boxes = locate(last_feature_maps(), size, size, self.threshold)
            return state["pending"].at[indices].set(boxes)

        collecting = self.refreshes_at(first + 1) | self.refreshes_at(last + 1)
        pending = jax.lax.cond(collecting, located, lambda: state["pending"])
        swap = self.refreshes_at(first) & (self.epoch_of_row(step - 1, 0) < first)
        return {
            "boxes": jnp.where(swap, pending, state["boxes"]),
            "pending": pending,
            "located": jnp.where(swap, 1, state["located"]),
        }

    def bounds(self, state: dict, indices) -> tuple[jax.Array, jax.Array]:
        """(boxes (B, 4), centre alpha): the rows' boxes and the Beta parameter, or the whole image and alpha 1
        (RandomResizedCrop) before the first refresh."""
        located = state["located"] > 0
        return state["boxes"][indices], jnp.where(located, self.alpha, 1.0).astype(jnp.float32)


CROP_POLICIES = {"contrastive": ContrastiveCrop}  # config.crop.policy: its class, built with config.crop
