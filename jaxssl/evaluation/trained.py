"""The protocols that train a classifier on the labelled examples and test it on the eval split
(probes/finetune.py): linear_sgd (the papers' linear probe on the frozen backbone) and finetune (the whole
features path; from --eval_init=random, the supervised baseline). Each takes a context.Context."""

from jaxssl import batch_streams
from jaxssl.models.classifier import Classifier
from jaxssl.probes import finetune
from jaxssl.state import evaluated_weights


def linear_sgd_record(context) -> dict:
    """A linear classifier trained on the frozen network's features, by config.linear_sgd's recipe."""
    return trained_record(context, "linear_sgd", train_backbone=False)


def finetune_record(context) -> dict:
    """The whole network and a classifier on it trained together, by config.finetune's recipe."""
    return trained_record(context, "finetune", train_backbone=True)


def trained_record(context, block_name: str, train_backbone: bool) -> dict:
    """Trains a classifier on the labelled examples, from the context's network, with config[block_name]'s
    recipe and the context's key, and tests it on the eval split; the record holds the recipe too."""
    exp, config, labelled = context.exp, context.config, context.labelled
    block = config[block_name]
    recipe = finetune.Recipe(**block)
    classifier = Classifier(
        network=finetune.with_drop_path(exp.method.network, recipe.drop_path),
        num_classes=max(exp.info.num_classes, 1),
        train_backbone=train_backbone,
    )
    train_batches = batch_streams.labelled_batches(
        exp,
        labelled,
        batch=recipe.batch_size,
        num_steps=recipe.steps(len(labelled.labels)),
        min_crop_scale=recipe.min_crop_scale,
    )
    params, batch_stats = evaluated_weights(context.state, exp.method.eval_weights)
    result = finetune.train_and_test(
        classifier,
        recipe=recipe,
        examples=len(labelled.labels),
        train_batches=train_batches,
        eval_batches=batch_streams.eval_batches(exp, exp.eval_source, config.eval.batch_size),
        image_size=exp.image_size,
        host_crop=exp.host_crop,
        channels=exp.info.image_shape[-1] or 3,
        mesh=exp.mesh,
        key=context.key,
        pretrained=dict(params=params, batch_stats=batch_stats),
    )
    return {**result, "recipe": dict(block)}
