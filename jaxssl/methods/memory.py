"""Method memories kept in TrainState.extra: FIFO queues of past embeddings, with their shape checks."""

import jax
import jax.numpy as jnp

from jaxssl import losses


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
