"""An experiment's training state and step: a fresh TrainState, its sharded layout (abstract shapes, each leaf
with its sharding, nothing computed), the state built in that layout, and the compiled step with its keys."""

import math

import jax
import jax.numpy as jnp

from jaxssl import sharding
from jaxssl import step as step_lib
from jaxssl.experiment import Experiment
from jaxssl.state import TrainState


def init_state(experiment: Experiment, key) -> TrainState:
    """A fresh state: online and probe params, their optimizer state, the target as a copy of online, and the
    method's own initial state."""
    channels = experiment.info.image_shape[-1]
    sample = jnp.zeros((2, experiment.image_size, experiment.image_size, channels), jnp.float32)
    model_key, probe_key = jax.random.split(key)
    variables = experiment.method.network.init(model_key, sample, train=True)
    features = experiment.method.network.apply(
        variables, sample, train=False, method=experiment.method.network.features
    )
    params = {"model": variables["params"], "probe": experiment.probe.init(probe_key, features)["params"]}
    batch_stats = variables.get("batch_stats", {})
    target = {"params": params["model"], "batch_stats": batch_stats} if experiment.method.uses_target else {}
    init_extra = experiment.method.init_extra
    return TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats=batch_stats,
        target=target,
        opt_state=experiment.optimizer.init(params),
        extra={} if init_extra is None else init_extra(jax.random.fold_in(key, 2)),
        crop={} if experiment.crop_policy is None else experiment.crop_policy.init(),
    )


def state_layout(experiment: Experiment):
    """The state's abstract shapes, each leaf carrying its sharding: the method's memories split over the data
    axis along their rows (sharding.rows_split), the large weights (parameters, optimizer state, EMA target)
    along one axis (sharding.weight_split, from the run's min_split_weight_bytes), everything else
    replicated; nothing is computed."""
    mesh, min_bytes = experiment.mesh, experiment.min_split_weight_bytes
    abstract = jax.eval_shape(lambda key: init_state(experiment, key), jax.random.key(0))

    def placed(tree, sharding_of):
        return jax.tree.map(
            lambda leaf: jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=sharding_of(leaf)), tree
        )

    layout = placed(abstract, lambda leaf: sharding.replicated(mesh))
    weights = {
        name: placed(
            getattr(abstract, name),
            lambda leaf: sharding.weight_split(mesh, leaf.shape, leaf.dtype, min_bytes),
        )
        for name in ("params", "opt_state", "target")
    }
    extra = dict(layout.extra)
    for name, axis in experiment.method.memories:
        if name not in extra:  # a memory the config turned off (SwAV without a queue)
            continue
        extra[name] = placed(extra[name], lambda leaf, axis=axis: sharding.rows_split(mesh, leaf.shape, axis))
    return layout.replace(extra=extra, **weights)


def layout_summary(layout) -> dict:
    """The state's megabytes whole and per device, and how many of its arrays are split over the devices."""
    leaves = jax.tree.leaves(layout)
    whole = sum(math.prod(leaf.shape) * leaf.dtype.itemsize for leaf in leaves)
    held = sum(math.prod(leaf.sharding.shard_shape(leaf.shape)) * leaf.dtype.itemsize for leaf in leaves)
    split = sum(leaf.sharding.shard_shape(leaf.shape) != leaf.shape for leaf in leaves)
    return {"mb": whole / 2**20, "mb_per_device": held / 2**20, "split_arrays": split}


def state_shardings(layout):
    """The sharding of each leaf of a state layout."""
    return jax.tree.map(lambda leaf: leaf.sharding, layout)


def create_state(experiment: Experiment, layout) -> TrainState:
    """A fresh state from the run's seed, built directly in its sharded layout."""
    key = jax.random.fold_in(jax.random.key(experiment.seed), 0)
    return jax.jit(lambda k: init_state(experiment, k), out_shardings=state_shardings(layout))(key)


def compile_train_step(experiment: Experiment, layout):
    """The jitted training step, its state donated and its output state pinned to the layout's shardings: left
    to the compiler, the output shardings can differ from the input's, and the second call compiles the step
    again (measured: SwAV's tiny config compiled twice, 21 s each on CPU)."""
    return jax.jit(
        train_step_fn(experiment),
        donate_argnums=0,
        out_shardings=(state_shardings(layout), sharding.replicated(experiment.mesh)),
    )


def step_key(experiment: Experiment):
    """The base key of the training step's random draws (augmentations); each step folds in its number."""
    return jax.random.fold_in(jax.random.key(experiment.seed), 1)


def health_key(experiment: Experiment, step: int):
    """The key of the augmented view pairs of the online health check at `step` (its own branch of the seed)."""
    return jax.random.fold_in(jax.random.fold_in(jax.random.key(experiment.seed), 3), step)


def train_step_fn(experiment: Experiment):
    """The experiment's training step, (state, batch) -> (state, metrics), not yet compiled."""
    return step_lib.make_train_step(
        method=experiment.method,
        probe=experiment.probe,
        optimizer=experiment.optimizer,
        view_specs=experiment.view_specs,
        crop_policy=experiment.crop_policy,
        base_key=step_key(experiment),
        total_steps=experiment.total_steps,
        learning_rate=experiment.learning_rate,
    )
