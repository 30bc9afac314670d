"""The network of CPC v2 (Hénaff et al. 2020, "Data-Efficient Image Recognition with Contrastive Predictive
Coding"): an encoder on each patch of an overlapping grid, a masked context network over the grid of patch
vectors, and one linear predictor per row offset.

It follows the network contract of models/network.py: `features(x, train)` is the mean of the patch vectors
of the whole image's grid (the paper's evaluation reads the encoder's pooled grid), `feature_maps` the
backbone's maps of the whole image, and `__call__` on a full-image batch creates every parameter.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxssl.models.network import FeatureNetwork, normalize


def grid_side(image_size: int, patch: int, stride: int) -> int:
    """Patches per side of the grid of `patch` px patches every `stride` px; ValueError when none fits or
    the grid does not end at the image's edge."""
    if patch > image_size or patch < 1 or stride < 1 or (image_size - patch) % stride:
        raise ValueError(
            f"{patch} px patches every {stride} px do not tile {image_size} px images (need patch <= size and "
            "stride dividing size - patch)"
        )
    return (image_size - patch) // stride + 1


def patch_grid(images, patch: int, stride: int):
    """(B, S, S, C) -> (B, G, G, patch, patch, C): patch (i, j) starts at (i stride, j stride)."""
    side = grid_side(images.shape[1], patch, stride)
    offsets = (np.arange(side)[:, None] * stride + np.arange(patch)[None, :]).reshape(-1)
    rows = images[:, offsets].reshape((images.shape[0], side, patch) + images.shape[2:])
    cells = rows[:, :, :, offsets].reshape(rows.shape[:3] + (side, patch, images.shape[-1]))
    return jnp.transpose(cells, (0, 1, 3, 2, 4, 5))


class RowMaskedConv(nn.Module):
    """A 3 x 3 convolution whose kernel rows below the centre are zero: the output at row i reads rows <= i
    only, so a stack of them keeps every context vector c_{i,j} blind to the rows it must predict (the
    masked convolutions of PixelCNN, van den Oord et al. 2016, applied over rows as in CPC)."""

    features: int

    @nn.compact
    def __call__(self, x):
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (3, 3, x.shape[-1], self.features))
        rows_visible = jnp.asarray(np.array([1.0, 1.0, 0.0])[:, None, None, None], kernel.dtype)
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        y = jax.lax.conv_general_dilated(
            x, kernel * rows_visible, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        return y + bias


class ContextNetwork(nn.Module):
    """(B, G, G, D) patch vectors -> (B, G, G, width) context vectors: a 1 x 1 projection, then `depth`
    residual blocks of two ReLU row-masked convolutions (CPC v2's PixelCNN-style context network, section
    4.1, smaller)."""

    width: int
    depth: int

    @nn.compact
    def __call__(self, z):
        x = nn.Dense(self.width, name="embed")(z)
        for index in range(self.depth):
            y = RowMaskedConv(self.width, name=f"block{index}_conv1")(nn.relu(x))
            y = RowMaskedConv(self.width, name=f"block{index}_conv2")(nn.relu(y))
            x = x + y
        return x


class CPCNetwork(FeatureNetwork):
    """x in [0, 1] -> {"features": the pooled patch grid, "patch_vectors" (B, G, G, D), "predictions"
    (B, G, G, K, D)}; `encode_and_predict(patches)` is the same on a grid the loss has augmented."""

    context: nn.Module
    num_offsets: int
    patch: int
    stride: int

    def encode(self, patches, train: bool):
        """(B, G, G, p, p, C) patches in [0, 1] -> (B, G, G, D) float32 patch vectors."""
        batch, side = patches.shape[:2]
        flat = patches.reshape((batch * side * side,) + patches.shape[3:])
        vectors = self.backbone(normalize(flat, self.image_mean, self.image_std), train=train)
        return vectors.reshape(batch, side, side, -1)

    @nn.compact
    def encode_and_predict(self, patches, train: bool):
        vectors = self.encode(patches, train)
        contexts = self.context(vectors)
        predictions = jnp.stack(
            [
                nn.Dense(vectors.shape[-1], name=f"predict{k}")(contexts)
                for k in range(1, self.num_offsets + 1)
            ],
            axis=3,
        )
        return {"patch_vectors": vectors, "predictions": predictions.astype(jnp.float32)}

    def features(self, x, train: bool):
        return jnp.mean(self.encode(patch_grid(x, self.patch, self.stride), train), axis=(1, 2))

    def __call__(self, x, train: bool):
        outputs = self.encode_and_predict(patch_grid(x, self.patch, self.stride), train)
        return {"features": jnp.mean(outputs["patch_vectors"], axis=(1, 2)), **outputs}
