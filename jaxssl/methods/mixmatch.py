"""MixMatch (Berthelot et al. 2019, "MixMatch: A Holistic Approach to Semi-Supervised Learning")."""

import jax
import jax.numpy as jnp

from jaxssl import losses
from jaxssl.methods.forward import dropout_rngs, forward, probe_features
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.methods.semisup import (
    check_semisupervised,
    classifier_network,
    ema_decay,
    linear_ramp,
    with_labelled_rows,
)

MIXUP_KEY = 0
GUESS_GROUP, TRAIN_GROUP = 0, 1


def make(
    context: MethodContext,
    *,
    temperature=0.5,
    alpha=0.75,
    unlabelled_weight=75.0,
    ramp_up_steps=16000,
    ema=0.999,
) -> Method:
    """Per step (paper, algorithm 1 and eq. 2-5), with K = len(views) weak views of every row:

        q_b = sharpen(mean_k softmax(f(u_b,k)), T)                   the guessed label, not differentiated
        X^ = (x_b view 0, onehot(y_b)),  U^ = (u_b,k, q_b) for every k
        X', U' = mixup(concat(X^, U^), alpha)                       one permutation over both, lambda' >= 1/2
        L = soft_CE(f(X'), p') + lambda_U linear_ramp(t) consistency_mse(f(U'), q')

    (T 0.5, alpha 0.75, lambda_U 75 ramped up linearly over the first 16,000 steps, CIFAR-10's values). The
    guessing forward runs in training mode and its BatchNorm updates are dropped; the mixed rows go through
    the network as one batch; the online probe reads the unmixed first view in inference mode. The weights'
    EMA (0.999) is evaluated."""
    check_semisupervised(context, "mixmatch")
    if not 0.0 < temperature <= 1.0 or alpha <= 0.0:
        raise ValueError(f"mixmatch needs a temperature in (0, 1] and alpha > 0, got {temperature}, {alpha}")
    network = classifier_network(context)
    labelled = context.labelled_batch

    def loss(params, inputs: LossInputs):
        views = inputs.views
        unlabelled_views = jnp.concatenate([view[labelled:] for view in views], axis=0)
        variables = {"params": params, "batch_stats": inputs.batch_stats}
        guesses, _ = forward(network, variables, unlabelled_views, dropout_rngs(inputs.key, GUESS_GROUP))
        probs = jax.nn.softmax(jax.lax.stop_gradient(guesses["logits"]).astype(jnp.float32), axis=-1)
        guessed = losses.sharpen(
            jnp.mean(probs.reshape(len(views), -1, probs.shape[-1]), axis=0), temperature
        )
        targets = jnp.concatenate(
            [
                jax.nn.one_hot(inputs.labels[:labelled], context.num_classes),
                jnp.tile(guessed, (len(views), 1)),
            ]
        )
        images = jnp.concatenate([views[0][:labelled], unlabelled_views], axis=0)
        mixed, mixed_targets = losses.mixup(jax.random.fold_in(inputs.key, MIXUP_KEY), images, targets, alpha)
        outputs, batch_stats = forward(network, variables, mixed, dropout_rngs(inputs.key, TRAIN_GROUP))
        logits = outputs["logits"]
        supervised = losses.soft_cross_entropy(logits[:labelled], mixed_targets[:labelled])
        consistency = losses.consistency_mse(logits[labelled:], mixed_targets[labelled:])
        weight = unlabelled_weight * linear_ramp(inputs.step, 0, ramp_up_steps)
        guessed_labels = jnp.argmax(guessed, axis=-1)
        return supervised + weight * consistency, LossAux(
            batch_stats=batch_stats,
            metrics={
                "supervised_ce": supervised,
                "consistency_mse": consistency,
                "unlabelled_weight": weight,
            },
            features=probe_features(network, params, inputs.batch_stats, views[0]),
            pseudo_labels=with_labelled_rows(labelled, guessed_labels),
        )

    return Method(
        name="mixmatch", network=network, loss=loss, target_decay=ema_decay(ema), eval_weights="target"
    )
