"""What the methods trained on N-way K-shot episodes share (Prototypical Networks, MAML): where an episode's
rows sit in the global batch, and the checks of its sizes.

The layout. A step's global batch of B rows holds E = B / R episodes, R = ways x (shots + queries), one after
another: episode e is rows [e R, (e + 1) R), its ways x shots support rows first, class by class (support row
i of an episode is of its class i // shots), then its ways x queries query rows, class by class (query row i:
class i // queries). The data side fills it (jaxssl/data/parts.py `Episodes`): episode e of step t is
jaxssl.data.episodes.sample_episode with seed (seed, t, e), drawn from the labelled classes of the training
split (the base classes, config.data.classes), so the batch of a step is a pure function of (seed, step) like
every other batch: a resumed run draws the same episodes, and each process of a pod computes the global
batch's indices and feeds its own rows of it (sharding.process_rows). The rows keep their dataset labels,
which the online probe reads; a method reads an episode's labels from the layout alone, fixed Python arrays,
so the step compiles once whatever classes a step draws. A method runs each episode through the network as
its own batch (its own BatchNorm statistics), as the papers do with one episode at a time.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from jaxssl.methods.method import MethodContext


@dataclasses.dataclass(frozen=True)
class EpisodeLayout:
    """`episodes` episodes of `ways` classes, each with `shots` support and `queries` query rows per class,
    filling the global batch as the module docstring lays out."""

    ways: int
    shots: int
    queries: int
    episodes: int

    @property
    def rows(self) -> int:
        """Rows of one episode: ways x (shots + queries)."""
        return self.ways * (self.shots + self.queries)

    def split(self, batch: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(support (E, ways x shots, ...), query (E, ways x queries, ...)) of a (B, ...) array of the batch's
        rows."""
        episodes = batch.reshape((self.episodes, self.rows) + batch.shape[1:])
        support_rows = self.ways * self.shots
        return episodes[:, :support_rows], episodes[:, support_rows:]

    @property
    def support_labels(self) -> jax.Array:
        """int32 (ways x shots,) the episode class of each support row."""
        return jnp.asarray(np.repeat(np.arange(self.ways, dtype=np.int32), self.shots))

    @property
    def query_labels(self) -> jax.Array:
        """int32 (ways x queries,) the episode class of each query row."""
        return jnp.asarray(np.repeat(np.arange(self.ways, dtype=np.int32), self.queries))


def episode_layout(
    context: MethodContext, name: str, *, ways: int, shots: int, queries: int
) -> EpisodeLayout:
    """The layout of `name`'s episodes in the context's global batch; ValueError, in one line, for sizes no
    episode can have: fewer than 2 ways, no shot or no query, a dataset without classes, more ways than it has
    classes, or a global batch that is not whole episodes. Whether the training split's base classes hold
    them is checked with its labels (jaxssl/data/parts.py episodes_of_split)."""
    for key, value, least in (("ways", ways, 2), ("shots", shots, 1), ("queries", queries, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            raise ValueError(f"{name}'s {key} must be an int >= {least}, got {value!r}")
    if context.num_classes < 2:
        raise ValueError(
            f"{name} trains on episodes of labelled classes; this dataset has {context.num_classes} classes"
        )
    if ways > context.num_classes:
        raise ValueError(
            f"{name}'s {ways}-way episodes need {ways} classes; the dataset has {context.num_classes}"
        )
    rows = ways * (shots + queries)
    if context.global_batch % rows:
        raise ValueError(
            f"{name}'s global batch {context.global_batch} must hold whole episodes of {ways} x ({shots} + "
            f"{queries}) = {rows} rows: set config.train.batch_size to a multiple of {rows}"
        )
    return EpisodeLayout(ways=ways, shots=shots, queries=queries, episodes=context.global_batch // rows)
