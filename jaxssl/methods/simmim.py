"""SimMIM (Xie et al. 2022, "SimMIM: A Simple Framework for Masked Image Modeling"): masked patches replaced
by a learned token in the encoder's input, their pixels regressed by a linear head with an L1 loss."""

from jaxssl import losses, masking
from jaxssl.methods.forward import dropout_rngs
from jaxssl.methods.mae import figure_rows, unnormalize, vit_of
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.mae import SimMIMNetwork
from jaxssl.models.network import normalize


def make(context: MethodContext, *, mask_ratio: float = 0.6, mask_patch_size: int = 32) -> Method:
    """Random masking of mask_patch_size squares (section 3.1: 32 px squares, ratio 0.6, with 16 px model
    patches), the encoder on every token with the masked ones replaced by the learned mask token, a
    one-layer head to the raw pixels of each patch, and the L1 loss on the masked pixels only (eq. 1).
    mask_patch_size must be a multiple of the model's patch size that divides the image."""
    vit = vit_of(context, "simmim")
    grid = vit.image_size // vit.patch_size
    network = SimMIMNetwork(
        backbone=vit, image_mean=tuple(context.image_mean), image_std=tuple(context.image_std)
    )
    mask_fn = masking.block_mask_fn(grid, vit.patch_size, mask_patch_size, mask_ratio)

    def loss(params, inputs: LossInputs):
        images = inputs.views[0]
        mask = mask_fn(inputs.key, images.shape[0])
        outputs = network.apply(
            {"params": params}, images, train=True, mask=mask, rngs=dropout_rngs(inputs.key, 0)
        )
        target = masking.patchify(normalize(images, context.image_mean, context.image_std), vit.patch_size)
        value = losses.simmim_loss(outputs["pred"], target, mask)
        return value, LossAux(batch_stats={}, metrics={"reconstruction": value}, features=outputs["features"])

    def reconstruct(variables, images, key):
        mask = mask_fn(key, images.shape[0])
        pred = network.apply({"params": variables["params"]}, images, train=False, mask=mask)["pred"]
        channels = images.shape[-1]
        pixels = unnormalize(masking.unpatchify(pred, vit.patch_size, channels), context)
        truth = masking.patchify(images, vit.patch_size)
        return figure_rows(masking.patchify(pixels, vit.patch_size), truth, mask, vit.patch_size, channels)

    return Method(name="simmim", network=network, loss=loss, reconstruct=reconstruct)
