"""What every evaluation protocol reads: one record built by the runner, passed to each protocol's function."""

import dataclasses

import jax


@dataclasses.dataclass(frozen=True)
class Context:
    """exp: the prepared experiment. config: the run's config (its eval, linear_sgd and finetune blocks).
    state: the evaluated network's state (a checkpoint or the untrained network), None for raw pixels and for
    protocols that read no network. labelled: the labelled training examples (the whole split, or a label
    fraction's subset). workdir: the run directory (figures go to workdir/plots). title: the figures' title.
    header: what every record says about where its numbers come from (its step, init, features...). key: the
    protocol's own PRNG key (fold_in(key(seed), its key salt)), None for a protocol without a salt."""

    exp: object
    config: object
    state: object
    labelled: object
    workdir: str
    title: str
    header: dict
    key: jax.Array | None = None

    def keyed(self, salt: int | None) -> "Context":
        """This context with the key of a protocol whose key salt is `salt` (None: no key)."""
        key = None if salt is None else jax.random.fold_in(jax.random.key(self.exp.seed), salt)
        return dataclasses.replace(self, key=key)
