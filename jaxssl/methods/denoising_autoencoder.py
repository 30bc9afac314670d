"""Denoising autoencoder (Vincent, Larochelle, Bengio and Manzagol 2008, "Extracting and Composing Robust
Features with Denoising Autoencoders"): rebuild the clean image from a corrupted copy."""

import jax
import jax.numpy as jnp

from jaxssl.methods.autoencoding import autoencoder_network, autoencoding_figure, autoencoding_loss
from jaxssl.methods.method import Method, MethodContext

CORRUPTIONS = ("mask", "gaussian")


def make(
    context: MethodContext, *, corruption: str = "mask", noise_level: float = 0.25, decoder_width: int = 128
) -> Method:
    """Per step (section 2.3): "mask" sets a random fraction noise_level of the pixels (all channels of each)
    to 0, the paper's masking noise; "gaussian" adds noise of standard deviation noise_level to every value.
    The backbone encodes the corrupted image, the convolutional decoder rebuilds it, and the squared error
    to the clean image counts everywhere (the paper's cross-entropy is for binary inputs)."""
    if corruption not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {corruption!r}; choose from {CORRUPTIONS}")
    if not 0.0 < noise_level < (1.0 if corruption == "mask" else float("inf")):
        raise ValueError(f"noise_level must be positive (a fraction below 1 for masking), got {noise_level}")
    network = autoencoder_network(context, decoder_width, adversarial=False)

    def corrupt(key, images):
        everywhere = jnp.ones(images.shape[:3], jnp.float32)
        if corruption == "mask":
            kept = jax.random.bernoulli(key, 1.0 - noise_level, images.shape[:3] + (1,))
            return images * kept, everywhere
        return images + noise_level * jax.random.normal(key, images.shape), everywhere

    return Method(
        name="denoising_autoencoder",
        network=network,
        loss=autoencoding_loss(network, context, corrupt, adversarial_weight=0.0),
        reconstruct=autoencoding_figure(network, context, corrupt, paste=False),
    )
