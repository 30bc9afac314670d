"""MAE (He et al. 2022, "Masked Autoencoders Are Scalable Vision Learners"): a ViT encodes a random 25 % of
the patches, a light decoder reconstructs the pixels of the rest."""

import jax.numpy as jnp

from jaxssl import losses, masking
from jaxssl.methods.forward import dropout_rngs
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.mae import MAENetwork
from jaxssl.models.network import normalize
from jaxssl.models.vit import ViT


def vit_of(context: MethodContext, method: str) -> ViT:
    """The context's backbone, which a masked image model needs to be a ViT."""
    if not isinstance(context.backbone, ViT):
        raise ValueError(
            f"{method} masks patch tokens and needs a ViT backbone (backbone=vit_micro/tiny/small/base), got "
            f"{type(context.backbone).__name__}"
        )
    return context.backbone


def make(
    context: MethodContext,
    *,
    mask_ratio: float = 0.75,
    decoder_dim: int = 512,
    decoder_depth: int = 8,
    decoder_heads: int = 16,
    norm_pix_loss: bool = True,
) -> Method:
    """Per step (section 3): a per-example random subset of `keep` = L (1 - mask_ratio) patches (argsort of
    uniform noise; `keep` is static, so the step compiles once) goes through the encoder with positions
    and cls token; the decoder gets the encoded tokens, mask tokens in the masked places, its own position
    embeddings, and predicts every patch's pixels. Loss: the MSE on the masked patches of the normalised
    image, each target patch standardised by its own mean and variance when norm_pix_loss (table 1d)."""
    vit = vit_of(context, "mae")
    num_patches = (vit.image_size // vit.patch_size) ** 2
    keep = masking.keep_count(num_patches, mask_ratio)
    network = MAENetwork(
        backbone=vit,
        decoder_dim=decoder_dim,
        decoder_depth=decoder_depth,
        decoder_heads=decoder_heads,
        image_mean=tuple(context.image_mean),
        image_std=tuple(context.image_std),
    )

    def loss(params, inputs: LossInputs):
        images = inputs.views[0]
        ids_keep, ids_restore, mask = masking.random_masking(inputs.key, images.shape[0], num_patches, keep)
        outputs = network.apply(
            {"params": params},
            images,
            train=True,
            ids_keep=ids_keep,
            ids_restore=ids_restore,
            rngs=dropout_rngs(inputs.key, 0),
        )
        target = masking.patchify(normalize(images, context.image_mean, context.image_std), vit.patch_size)
        value = losses.mae_loss(outputs["pred"], target, mask, norm_pix=norm_pix_loss)
        return value, LossAux(batch_stats={}, metrics={"reconstruction": value}, features=outputs["features"])

    def reconstruct(variables, images, key):
        ids_keep, ids_restore, mask = masking.random_masking(key, images.shape[0], num_patches, keep)
        outputs = network.apply(
            {"params": variables["params"]}, images, train=False, ids_keep=ids_keep, ids_restore=ids_restore
        )
        pred = outputs["pred"]
        truth = masking.patchify(images, vit.patch_size)
        if norm_pix_loss:  # predictions are standardised patches: shown at their true patch's mean and spread
            std_truth = masking.patchify(
                normalize(images, context.image_mean, context.image_std), vit.patch_size
            )
            mean = jnp.mean(std_truth, axis=-1, keepdims=True)
            spread = jnp.sqrt(jnp.var(std_truth, axis=-1, keepdims=True) + 1e-6)
            pred = pred * spread + mean
        pred = masking.patchify(
            unnormalize(masking.unpatchify(pred, vit.patch_size, images.shape[-1]), context), vit.patch_size
        )
        return figure_rows(pred, truth, mask, vit.patch_size, images.shape[-1])

    return Method(name="mae", network=network, loss=loss, reconstruct=reconstruct)


def unnormalize(images, context: MethodContext):
    """Standardised images back to [0, 1] pixels: the inverse of models.network.normalize."""
    return images * jnp.asarray(context.image_std) + jnp.asarray(context.image_mean)


def figure_rows(pred, truth, mask, patch: int, channels: int) -> dict:
    """The reconstruction protocol's rows from (B, L, P) patches in [0, 1]: the masked input (masked patches
    grey) and the reconstruction with the visible patches pasted in."""
    as_image = lambda patches: jnp.clip(masking.unpatchify(patches, patch, channels), 0.0, 1.0)  # noqa: E731
    return {
        "masked": as_image(masking.blank_masked(truth, mask, 0.5)),
        "reconstruction": as_image(masking.paste_visible(pred, truth, mask)),
    }
