"""Prototypical Networks (Snell, Swersky and Zemel 2017, "Prototypical Networks for Few-shot Learning"): the
backbone trained on N-way K-shot episodes of the base classes to classify each query by its nearest class
mean of the support embeddings."""

import jax
import jax.numpy as jnp

from jaxssl import losses
from jaxssl.methods.episodic import episode_layout
from jaxssl.methods.forward import forward_in_groups
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.network import FeatureNetwork


def make(context: MethodContext, *, ways: int = 5, shots: int = 5, queries: int = 15) -> Method:
    """Per step: the global batch is E episodes (methods/episodic.py), each run through the network as its own
    batch (its own BatchNorm statistics, as the paper runs one episode at a time); the embedding f(x) is the
    backbone's features, and

        L = 1/E sum_e prototypical(support_e, query_e),

    the mean query cross-entropy of eq. 2 with squared Euclidean distances to the class means of the support
    embeddings (losses.prototypical). No head: the features themselves are what the episodes train and
    what every evaluation reads."""
    layout = episode_layout(context, "protonet", ways=ways, shots=shots, queries=queries)
    network = FeatureNetwork(
        backbone=context.backbone, image_mean=tuple(context.image_mean), image_std=tuple(context.image_std)
    )
    support_labels, query_labels = layout.support_labels, layout.query_labels

    def episode_terms(support, query):
        """(loss, query top-1) of one episode's support (ways x shots, D) and query (ways x queries, D)."""
        value = losses.prototypical(support, support_labels, query, query_labels, ways)
        logits = losses.prototype_logits(support, support_labels, query, ways)
        return value, jnp.mean((jnp.argmax(logits, axis=-1) == query_labels).astype(jnp.float32))

    def loss(params, inputs: LossInputs):
        (view,) = inputs.views
        variables = {"params": params, "batch_stats": inputs.batch_stats}
        outputs, batch_stats = forward_in_groups(network, variables, view, layout.episodes, key=inputs.key)
        values, top1 = jax.vmap(episode_terms)(*layout.split(outputs["features"]))
        value = jnp.mean(values)
        return value, LossAux(
            batch_stats=batch_stats,
            metrics={"prototypical": value, "query_top1": jnp.mean(top1)},
            features=outputs["features"],
        )

    return Method(name="protonet", network=network, loss=loss, episodes=layout)
