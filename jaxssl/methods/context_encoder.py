"""Context encoder (Pathak, Krähenbühl, Donahue, Darrell and Efros 2016, "Context Encoders: Feature Learning
by Inpainting"): fill in a dropped region of the image from its surroundings."""

import jax
import jax.numpy as jnp

from jaxssl.methods.autoencoding import autoencoder_network, autoencoding_figure, autoencoding_loss
from jaxssl.methods.method import Method, MethodContext

REGIONS = ("center", "random")


def region_masks(key, batch: int, image_size: int, side: int, region: str):
    """(B, S, S) float32, 1 on a `side` x `side` square per image: the central one, or one placed uniformly
    at random per image (Pathak et al. 2016, section 3.3: "central region" and "random block")."""
    if region == "center":
        tops = jnp.full((batch, 2), (image_size - side) // 2)
    else:
        tops = jax.random.randint(key, (batch, 2), 0, image_size - side + 1)
    rows = jnp.arange(image_size)
    inside = lambda top: (rows >= top) & (rows < top + side)  # noqa: E731
    return (inside(tops[:, :1])[:, :, None] & inside(tops[:, 1:])[:, None, :]).astype(jnp.float32)


def make(
    context: MethodContext,
    *,
    region: str = "center",
    region_fraction: float = 0.5,
    decoder_width: int = 128,
    adversarial_weight: float = 0.0,
) -> Method:
    """Per step (section 3): a square of side region_fraction x image_size (the paper's 64 of 128 px) is
    filled with the dataset's mean colour (zero after normalisation); the backbone encodes the image, the
    convolutional decoder rebuilds it, and the squared error counts inside the square only (eq. 1; the
    paper also weighs a thin overlap band 10x, left out here). The adversarial term (eq. 2 and 3) is off by
    default; adversarial_weight 0.001 is the paper's."""
    if region not in REGIONS:
        raise ValueError(f"unknown region {region!r}; choose from {REGIONS}")
    side = int(context.image_size * region_fraction)
    if not 0 < side < context.image_size:
        raise ValueError(
            f"region_fraction {region_fraction} of {context.image_size} px images drops {side} px: it must "
            "leave a region and a context"
        )
    if not 0.0 <= adversarial_weight < 1.0:
        raise ValueError(f"adversarial_weight must lie in [0, 1), got {adversarial_weight}")
    network = autoencoder_network(context, decoder_width, adversarial_weight > 0)
    fill = jnp.asarray(context.image_mean, jnp.float32)

    def corrupt(key, images):
        mask = region_masks(key, images.shape[0], context.image_size, side, region)
        return jnp.where(mask[..., None] > 0, fill, images), mask

    return Method(
        name="context_encoder",
        network=network,
        loss=autoencoding_loss(network, context, corrupt, adversarial_weight),
        reconstruct=autoencoding_figure(network, context, corrupt, paste=True),
    )
