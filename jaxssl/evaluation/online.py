"""The online evaluation of pretraining: every config.eval.every_steps steps, the numbers training logs to
metrics.jsonl's "eval" lines (train.py calls it with the embeddings it compiled once)."""

import logging

import numpy as np

from jaxssl import batch_streams, run_state, sharding
from jaxssl.evaluation import fewshot
from jaxssl.probes import accuracy, embed, health, knn
from jaxssl.state import evaluated_weights


def classifier_top1(outputs: dict) -> float:
    """Top-1 of the network's own class logits in an embedding's outputs ({"logits", "label"}, padding already
    dropped)."""
    return accuracy.accuracies(outputs["logits"], outputs["label"])["top1"]


def online_eval(exp, compiled, state, bank_source, health_source, eval_config, fewshot_config=None) -> dict:
    """kNN top-1 (bank: a fixed subset of the train split), the online probe's top-1 on the eval split, the
    ridge few-shot probe's top-1 at fewshot_config.online_shots examples per class of the bank (where the
    config has a fewshot block), and the health of the eval embedding (spread, effective rank, uniformity,
    and the alignment of two augmented views of the first eval_config.health_examples eval examples); warns
    when it collapses. All of it on the weights the method evaluates (the EMA for FixMatch), except the
    online probe: it learns on the online network's features, so it is tested on them."""
    args = evaluated_weights(state, exp.method.eval_weights)

    def embed_source(source, weights=args):
        batches = batch_streams.eval_batches(exp, source, eval_config.batch_size)
        return embed.embed_split(compiled["embed"], weights, batches, exp.mesh)

    bank, held_out = embed_source(bank_source), embed_source(exp.eval_source)
    probed = held_out
    if exp.method.eval_weights != "online":
        probed = embed_source(exp.eval_source, (state.params["model"], state.batch_stats))
    pair_batches = batch_streams.eval_batches(exp, health_source, eval_config.batch_size)
    key = run_state.health_key(exp, int(state.step))
    pairs = embed.embed_split(compiled["pairs"], args, pair_batches, exp.mesh, key=key)
    classes = max(exp.info.num_classes, 1)
    logits = exp.probe.apply({"params": sharding.host_copy(state.params["probe"])}, probed["features"])
    spread = health.health(
        held_out["features"][: eval_config.health_examples], pairs["view_a"], pairs["view_b"]
    )
    message = health.collapse_message(spread)
    if message:
        logging.warning("step %d: %s", int(state.step), message)
    return {
        "knn_top1": knn.knn_top1(
            bank["features"],
            bank["label"],
            held_out["features"],
            held_out["label"],
            num_classes=classes,
            k=eval_config.knn_k,
            temperature=eval_config.knn_temperature,
        ),
        "linear_top1": float(np.mean(np.argmax(np.asarray(logits), -1) == held_out["label"])),
        **({} if fewshot_config is None else fewshot.online_fewshot(bank, held_out, fewshot_config, classes)),
        **spread,
        **({"classifier_top1": classifier_top1(held_out)} if "logits" in held_out else {}),
    }
