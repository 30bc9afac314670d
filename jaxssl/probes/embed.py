"""Embeddings of a whole split, computed over the device mesh and gathered on every process."""

import jax
import numpy as np

from jaxssl import sharding


def compile_embed(embed_fn, mesh):
    """The embedding jitted so that its outputs are replicated: every process can read all of them."""
    return jax.jit(embed_fn, out_shardings=sharding.replicated(mesh))


def embed_split(compiled_embed, args: tuple, batches, mesh, key=None) -> dict[str, np.ndarray]:
    """Every output of compiled_embed(*args, batch[, key]) but the mask, concatenated over the real
    (unpadded) examples of the eval-style `batches`; batch i gets fold_in(key, i) when a key is given."""
    outputs = []
    for index, host_batch in enumerate(batches):
        extra = () if key is None else (jax.random.fold_in(key, index),)
        outputs.append(jax.device_get(compiled_embed(*args, sharding.to_global(host_batch, mesh), *extra)))
    names = [name for name in outputs[0] if name != "mask"]
    return {
        name: np.concatenate([np.asarray(out[name])[np.asarray(out["mask"])] for out in outputs])
        for name in names
    }
