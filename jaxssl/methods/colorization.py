"""Colorization (Zhang, Isola and Efros 2016, "Colorful Image Colorization"): predict an image's colours,
as a distribution over quantised ab values at every position, from its lightness."""

import jax
import jax.numpy as jnp

from jaxssl import losses
from jaxssl.augment import pretext
from jaxssl.augment.lab import lab_to_rgb, rgb_to_lab
from jaxssl.methods.forward import dropout_rngs, forward, probe_features
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.alexnet import adaptive_avg_pool
from jaxssl.models.colorization import ColorizationNetwork


def make(
    context: MethodContext,
    *,
    neighbours: int = 5,
    sigma: float = 5.0,
    rebalance_mix: float = 0.5,
    prior_momentum: float = 0.99,
    temperature: float = 0.38,
) -> Method:
    """Per step (section 2): the backbone sees L; a 1 x 1 head on its last feature map gives logits over the
    Q ab bins at each of its h x w positions; the target is the image's ab averaged over each position's
    cell and soft-encoded onto its `neighbours` nearest bins (Gaussian, `sigma`); the loss is the
    class-rebalanced cross-entropy (eq. 2), its weights (eq. 4, lambda = `rebalance_mix`) from the ab prior.
    The prior is the training set's bin distribution, kept here as the method's state: an EMA (rate
    `prior_momentum`) of each global batch's mean target, from uniform (the paper counts ImageNet's pixels
    once, at full resolution). The reconstruction protocol shows the annealed mean (eq. 5, `temperature`)."""
    if len(context.image_mean) != 3:
        raise ValueError(
            f"colorization predicts colours from lightness and needs RGB images; this dataset has "
            f"{len(context.image_mean)} channel(s)"
        )
    bins = pretext.ab_bins()
    network = ColorizationNetwork(backbone=context.backbone, num_bins=len(bins))

    def targets_of(images, side: int):
        """(B, side, side, Q): the soft-encoded mean ab of each of the map's cells."""
        ab = adaptive_avg_pool(rgb_to_lab(images)[..., 1:], side)
        return pretext.soft_encode(ab, bins, neighbours, sigma)

    def loss(params, inputs: LossInputs):
        images = inputs.views[0]
        variables = {"params": params, "batch_stats": inputs.batch_stats}
        logits, batch_stats = forward(network, variables, images, dropout_rngs(inputs.key, 0), "dense_logits")
        targets = targets_of(images, logits.shape[1])
        prior = inputs.extra["ab_prior"]
        weights = pretext.rebalancing_weights(prior, bins, sigma, rebalance_mix)
        value = losses.rebalanced_cross_entropy(logits, targets, weights)
        new_prior = prior_momentum * prior + (1.0 - prior_momentum) * jnp.mean(targets, axis=(0, 1, 2))
        features = probe_features(network, params, batch_stats, images)
        return value, LossAux(
            batch_stats=batch_stats,
            metrics={"colorization_ce": value},
            features=features,
            extra={"ab_prior": jax.lax.stop_gradient(new_prior)},
        )

    def init_extra(key):
        del key
        return {"ab_prior": jnp.full((len(bins),), 1.0 / len(bins), jnp.float32)}

    def reconstruct(variables, images, key):
        del key
        logits = network.apply(variables, images, train=False, method="dense_logits")
        ab = pretext.annealed_mean(jax.nn.softmax(logits), bins, temperature)
        ab = jax.image.resize(ab, images.shape[:3] + (2,), "linear")
        lightness = rgb_to_lab(images)[..., :1]
        return {
            "lightness": lab_to_rgb(jnp.concatenate([lightness, jnp.zeros_like(ab)], axis=-1)),
            "prediction": lab_to_rgb(jnp.concatenate([lightness, ab], axis=-1)),
        }

    return Method(
        name="colorization", network=network, loss=loss, init_extra=init_extra, reconstruct=reconstruct
    )
