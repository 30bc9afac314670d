"""Features of a whole split, computed over the device mesh and gathered on every process."""

import jax
import numpy as np

from jaxssl import sharding


def compile_embed(embed_fn, mesh):
    """The embedding jitted so that its outputs are replicated: every process can read all of them."""
    return jax.jit(embed_fn, out_shardings=sharding.replicated(mesh))


def embed_split(compiled_embed, params, batch_stats, batches, mesh) -> tuple[np.ndarray, np.ndarray]:
    """(features (N, D), labels (N,)) of every real (unpadded) example of the eval-style `batches`."""
    features, labels = [], []
    for host_batch in batches:
        outputs = compiled_embed(params, batch_stats, sharding.to_global(host_batch, mesh))
        mask = np.asarray(outputs["mask"])
        features.append(np.asarray(outputs["features"], np.float32)[mask])
        labels.append(np.asarray(outputs["label"])[mask])
    return np.concatenate(features), np.concatenate(labels)
