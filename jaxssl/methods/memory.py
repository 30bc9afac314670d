"""Method memories kept in TrainState.extra: FIFO queues of past embeddings and per-example memory banks, with
their shape checks."""

import jax
import jax.numpy as jnp

from jaxssl import losses, sharding


def check_queue_size(queue_size: int, entries_per_step: int, what: str) -> None:
    """A queue takes whole batches: its size must be a positive multiple of the entries written per step."""
    if queue_size <= 0 or queue_size % entries_per_step:
        raise ValueError(
            f"{what} must be a positive multiple of the {entries_per_step} entries it receives per step "
            f"(the global batch times the views enqueued), got {queue_size}"
        )


def random_queue(key, size: int, dim: int) -> dict:
    """A queue of `size` random unit vectors and its write position, as MoCo initialises its dictionary."""
    return {
        "queue": losses.l2_normalize(jax.random.normal(key, (size, dim), jnp.float32)),
        "pointer": jnp.zeros((), jnp.int32),
    }


def fifo_enqueue(memory: dict, entries: jax.Array) -> dict:
    """Overwrites the oldest rows with `entries` (B, D), L2-normalised and without gradient; the queue size is
    a multiple of B, so the write never wraps. MoCo (He et al. 2020, section 3.1): enqueue the newest
    mini-batch, dequeue the oldest."""
    entries = losses.l2_normalize(jax.lax.stop_gradient(entries).astype(jnp.float32))
    queue = jax.lax.dynamic_update_slice(memory["queue"], entries, (memory["pointer"], 0))
    return {"queue": queue, "pointer": (memory["pointer"] + entries.shape[0]) % queue.shape[0]}


def check_bank_size(num_examples: int, global_batch: int, what: str) -> None:
    """A per-example bank takes the rows of whole batches: it must hold at least the global batch."""
    if num_examples < global_batch:
        raise ValueError(
            f"{what}'s memory bank holds one row per training example, {num_examples}, fewer than the global "
            f"batch of {global_batch} it writes each step: use a larger training split or a smaller batch"
        )


def random_bank(key, num_examples: int, dim: int, nce: bool = True) -> dict:
    """A bank of one random unit vector per training example (InstDisc initialises it randomly), its rows padded
    past them to sharding.padded_rows so that it splits over the devices (nothing reads the padding), and, for
    NCE, its normaliser log Z not yet estimated (NaN until the first step; the exact softmax keeps none)."""
    bank = losses.l2_normalize(jax.random.normal(key, (num_examples, dim), jnp.float32))
    memory = {"bank": sharding.pad_rows(bank, axis=0)}
    return {**memory, "log_z": jnp.full((), jnp.nan, jnp.float32)} if nce else memory


def held_log_normalizer(log_z, estimate):
    """The NCE normaliser log Z: `estimate` on the first step (while the stored one is NaN), then the stored one,
    held fixed as InstDisc's paper does (Wu et al. 2018, section 3.2)."""
    return jnp.where(jnp.isnan(log_z), estimate, log_z)
