"""MAML (Finn, Abbeel and Levine 2017, "Model-Agnostic Meta-Learning for Fast Adaptation of Deep Networks"):
an initialisation of the backbone and a `ways`-way head learnt so that a few gradient steps on an episode's
support set classify its queries."""

import jax
import jax.numpy as jnp

from jaxssl import losses
from jaxssl.methods.episodic import episode_layout
from jaxssl.methods.forward import dropout_rngs, forward, forward_in_groups
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.heads import MLP


def check_inner_loop(inner_steps: int, inner_lr: float) -> None:
    """ValueError, in one line, unless the inner loop takes at least one step of a positive learning rate."""
    if not isinstance(inner_steps, int) or isinstance(inner_steps, bool) or inner_steps < 1:
        raise ValueError(f"maml's inner_steps must be an int >= 1, got {inner_steps!r}")
    if not inner_lr > 0:
        raise ValueError(f"maml's inner_lr must be positive, got {inner_lr!r}")


def make(
    context: MethodContext,
    *,
    ways: int = 5,
    shots: int = 1,
    queries: int = 15,
    inner_steps: int = 5,
    inner_lr: float = 0.01,
    first_order: bool = False,
) -> Method:
    """The network: the backbone and a linear `ways`-way head (the network's projector), one shared
    initialisation theta. Per episode (methods/episodic.py) the inner loop adapts every parameter by
    `inner_steps` gradient steps on the support set (algorithm 2, step 7),

        theta'_0 = theta,    theta'_{j+1} = theta'_j - alpha grad L_support(theta'_j),    alpha = inner_lr,

    and the step minimises the mean over the E episodes of the query cross-entropy at the adapted weights,

        L = 1/E sum_e L_query_e(theta'_K),

    differentiated through the inner loop (its second derivatives included), or, with `first_order`, with
    each inner gradient held constant (first-order MAML, section 5.2: the gradient of L_query at theta'_K,
    applied to theta).

    BatchNorm: every forward of the inner loop and of the queries runs in training mode on its own batch (the
    episode's support set, then its query set), normalised by that batch's statistics, as the paper's
    reference runs it; the scale and shift are adapted with the other weights. The running statistics that
    evaluation reads are those of the shared initialisation: one more forward of theta (no gradient) on each
    whole episode, which also gives the online probe its features.

    The episodes and the inner steps are Python loops, unrolled in the compiled step (its compile time grows
    with episodes x inner_steps): on XLA's CPU backend a lax.scan of 5 inner steps ran about 30 times slower
    than the same steps unrolled (ResNet-10 x0.25, 25 images: 5.9 s against 0.21 s), and a vmap over the
    episodes, which batches their adapted kernels, twice as slow as a loop (2-core AMD EPYC Zen 4,
    2026-12-06).
    """
    layout = episode_layout(context, "maml", ways=ways, shots=shots, queries=queries)
    check_inner_loop(inner_steps, inner_lr)
    head = MLP(hidden_dims=(), out_dim=ways, use_bn=False, dtype=context.dtype)
    network = context.network(head)
    support_labels, query_labels = layout.support_labels, layout.query_labels

    def class_loss(weights, batch_stats, images, labels, key):
        """(cross-entropy, top-1) of the head's logits of `images` in training mode under `weights`."""
        variables = {"params": weights, "batch_stats": batch_stats}
        outputs, _ = forward(network, variables, images, dropout_rngs(key, 0))
        return losses.hard_label_cross_entropy(outputs["projection"], labels)

    def support_loss(weights, batch_stats, support, labels, key):
        return class_loss(weights, batch_stats, support, labels, key)[0]

    def adapted(params, batch_stats, support, labels, key):
        """theta'_K of one episode's support set and its episode labels."""
        weights = params
        for step_key in jax.random.split(key, inner_steps):
            grads = jax.grad(support_loss)(weights, batch_stats, support, labels, step_key)
            if first_order:
                grads = jax.lax.stop_gradient(grads)
            weights = jax.tree.map(lambda w, g: w - inner_lr * g, weights, grads)
        return weights

    def episode_terms(params, batch_stats, support, query, key):
        """(query cross-entropy, query top-1) of one episode after the inner loop."""
        inner_key, query_key = jax.random.split(key)
        weights = adapted(params, batch_stats, support, support_labels, inner_key)
        return class_loss(weights, batch_stats, query, query_labels, query_key)

    def adapt_episode(variables, support, query, key):
        """The query logits after the inner loop on an episode of any shot count (the training's
        inner_steps and inner_lr, BatchNorm on each batch's own statistics as in training)."""
        labels = jnp.repeat(jnp.arange(ways, dtype=jnp.int32), support.shape[0] // ways)
        inner_key, query_key = jax.random.split(key)
        weights = adapted(variables["params"], variables["batch_stats"], support, labels, inner_key)
        query_variables = {"params": weights, "batch_stats": variables["batch_stats"]}
        return forward(network, query_variables, query, dropout_rngs(query_key, 0))[0]["projection"]

    def loss(params, inputs: LossInputs):
        (view,) = inputs.views
        support, query = layout.split(view)
        keys = jax.random.split(inputs.key, layout.episodes)
        terms = [
            episode_terms(params, inputs.batch_stats, support[e], query[e], keys[e])
            for e in range(layout.episodes)
        ]
        values, top1 = (jnp.stack(term) for term in zip(*terms, strict=True))
        initial = {"params": jax.lax.stop_gradient(params), "batch_stats": inputs.batch_stats}
        outputs, batch_stats = forward_in_groups(network, initial, view, layout.episodes)
        value = jnp.mean(values)
        return value, LossAux(
            batch_stats=batch_stats,
            metrics={"query_ce": value, "query_top1": jnp.mean(top1)},
            features=outputs["features"],
        )

    return Method(name="maml", network=network, loss=loss, episodes=layout, adapt_episode=adapt_episode)
