"""A trained classifier read back: its top-1 (and top-5) on the centre view of an eval split, and its class
distribution on every example (a fine-tuned teacher's predictions). The classifiers are the supervised
protocols' (finetune.py)."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxssl import augment, sharding
from jaxssl.models.classifier import Classifier
from jaxssl.probes import accuracy, embed


def centre_logits(classifier: Classifier, variables, batch, image_size: int):
    """The classifier's logits on the centre view of a batch's first view."""
    return classifier.apply(variables, augment.center_view(batch["image"][:, 0], image_size), train=False)


def eval_accuracy(classifier: Classifier, variables, eval_batches, image_size: int, mesh) -> dict[str, float]:
    """Top-1 (and top-5 beyond five classes, `accuracy.ks_of`) of the classifier on the centre view of every
    real (unpadded) eval example."""
    ks = accuracy.ks_of(classifier.num_classes)

    @jax.jit
    def hits_and_count(variables, batch):
        logits = centre_logits(classifier, variables, batch, image_size)
        hits = [jnp.sum(accuracy.top_k_hits(logits, batch["label"], k) & batch["mask"]) for k in ks]
        return hits, jnp.sum(batch["mask"])

    correct, total = [0] * len(ks), 0
    for host_batch in eval_batches:
        hits, count = hits_and_count(variables, sharding.to_global(host_batch, mesh))
        correct, total = [c + int(h) for c, h in zip(correct, hits, strict=True)], total + int(count)
    return {f"top{k}": c / max(total, 1) for k, c in zip(ks, correct, strict=True)}


def class_probabilities(classifier: Classifier, variables, batches, image_size: int, mesh) -> np.ndarray:
    """float32 (N, classes): the classifier's softmax on the centre view of every real (unpadded) example of
    the eval-style `batches`, in their order."""

    def predict(variables, batch):
        logits = centre_logits(classifier, variables, batch, image_size)
        return {"probabilities": jax.nn.softmax(logits.astype(jnp.float32), axis=-1), "mask": batch["mask"]}

    compiled = embed.compile_embed(predict, mesh)
    return embed.embed_split(compiled, (variables,), batches, mesh)["probabilities"]
