"""The step shared by the reconstruction pretext tasks (context encoder, denoising autoencoder): corrupt the
view, encode it with the backbone, decode the last feature map, score the squared error where the task
says, optionally against a discriminator; and the picture the reconstruction protocol draws."""

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxssl import losses
from jaxssl.methods.forward import dropout_rngs, forward, probe_features
from jaxssl.methods.method import LossAux, LossInputs, MethodContext
from jaxssl.models.autoencoder import AutoencoderNetwork, ConvDecoder, Discriminator
from jaxssl.models.network import normalize

CORRUPT_KEY_SALT = 1  # the corruption's draws: fold_in(loss key, 1), apart from the dropout streams


def autoencoder_network(context: MethodContext, decoder_width: int, adversarial: bool) -> AutoencoderNetwork:
    return AutoencoderNetwork(
        backbone=context.backbone,
        decoder=ConvDecoder(size=context.image_size, channels=len(context.image_mean), width=decoder_width),
        discriminator=Discriminator() if adversarial else None,
        image_mean=tuple(context.image_mean),
        image_std=tuple(context.image_std),
    )


def to_pixels(normalised, context: MethodContext):
    """Normalised pixels back to [0, 1], clipped."""
    return jnp.clip(normalised * jnp.asarray(context.image_std) + jnp.asarray(context.image_mean), 0.0, 1.0)


def autoencoding_loss(
    network: AutoencoderNetwork, context: MethodContext, corrupt: Callable, adversarial_weight
):
    """loss(params, inputs): corrupt(key, images) -> (corrupted images in [0, 1], region (B, S, S) where the
    squared error counts) on the first view; the reconstruction of the normalised clean view from the
    corrupted one. With adversarial_weight w > 0 (Pathak et al. 2016, eq. 3: w = 0.001), the loss is
    (1 - w) L_rec + w L_generator + L_critic (losses.adversarial_terms), the discriminator judging the view
    with its region filled in by the reconstruction. The online probe reads the clean view's features in
    inference mode."""

    def loss(params, inputs: LossInputs):
        images = inputs.views[0]
        corrupted, region = corrupt(jax.random.fold_in(inputs.key, CORRUPT_KEY_SALT), images)
        variables = {"params": params, "batch_stats": inputs.batch_stats}
        rebuilt, batch_stats = forward(
            network, variables, corrupted, dropout_rngs(inputs.key, 0), "reconstruct"
        )
        clean = normalize(images, context.image_mean, context.image_std)
        value = losses.region_l2(rebuilt, clean, region)
        metrics = {"reconstruction": value}
        if adversarial_weight > 0:
            filled = jnp.where(region[..., None] > 0, rebuilt, clean)
            frozen = {**params, "discriminator": jax.lax.stop_gradient(params["discriminator"])}
            judge = lambda p, x: network.apply({"params": p}, x, method="discriminate")  # noqa: E731
            critic, generator = losses.adversarial_terms(
                judge(params, clean), judge(params, jax.lax.stop_gradient(filled)), judge(frozen, filled)
            )
            metrics.update(critic=critic, generator=generator)
            value = (1.0 - adversarial_weight) * value + adversarial_weight * generator + critic
        features = probe_features(network, params, batch_stats, images)
        return value, LossAux(batch_stats=batch_stats, metrics=metrics, features=features)

    return loss


def autoencoding_figure(network: AutoencoderNetwork, context: MethodContext, corrupt: Callable, paste: bool):
    """reconstruct(variables, images, key) -> {"masked": the corrupted images, "reconstruction": the
    network's, the uncorrupted pixels pasted back outside the region when `paste`}, in [0, 1]."""

    def reconstruct(variables, images, key):
        corrupted, region = corrupt(key, images)
        rebuilt = to_pixels(network.apply(variables, corrupted, train=False, method="reconstruct"), context)
        if paste:
            rebuilt = jnp.where(region[..., None] > 0, rebuilt, images)
        return {"masked": corrupted, "reconstruction": rebuilt}

    return reconstruct
