"""The supervised baseline of the semi-supervised tables: the classifier trained on the labelled rows alone,
on the network, augmentation, optimiser and steps the semi-supervised methods use."""

from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.methods.semisup import classifier_network, ema_decay, one_view_forward


def make(context: MethodContext, *, ema=0.999) -> Method:
    """Per step: the batch is B_l labelled rows and nothing else (config.semisup with mu = 0), one view of each
    (the weak preset: flip and a reflect-padded translation) through the classifier network, and

        L = CE(logits, labels),

    the "supervised" row that semi-supervised benchmarks report beside their methods (the labels alone, the
    same network and steps). As FixMatch's, the evaluated model is the EMA of the weights (`ema`), so the two
    differ only in the unlabelled rows."""
    if context.labelled_batch != context.global_batch or context.num_classes < 2:
        raise ValueError(
            "supervised trains on labelled rows alone: set config.semisup with mu = 0 on a dataset with "
            f"classes; this run's batch has {context.labelled_batch} labelled rows of {context.global_batch} "
            f"and {context.num_classes} classes"
        )
    if not 0.0 <= ema < 1.0:
        raise ValueError(f"supervised's ema must lie in [0, 1), got {ema}")
    network = classifier_network(context)
    labelled = context.labelled_batch

    def loss(params, inputs: LossInputs):
        outputs, batch_stats, supervised, labelled_top1 = one_view_forward(network, params, inputs, labelled)
        return supervised, LossAux(
            batch_stats=batch_stats,
            metrics={"supervised_ce": supervised, "labelled_top1": labelled_top1},
            features=outputs["features"],
        )

    return Method(
        name="supervised", network=network, loss=loss, target_decay=ema_decay(ema), eval_weights="target"
    )
