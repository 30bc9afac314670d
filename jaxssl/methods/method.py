"""A method is a record of functions, built by `make(context, **hyperparameters)` in its own file."""

import dataclasses
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxssl.models.network import SSLNetwork


@dataclasses.dataclass(frozen=True)
class MethodContext:
    """What the run provides to every method's `make`, besides the method's own hyperparameters.

    backbone: the feature extractor. image_mean, image_std: per-channel input normalisation.
    dtype: compute dtype of the heads. num_examples: size of the training split (memory banks).
    global_batch: examples per step over all devices and processes (queue sizes must be multiples of it).
    image_size: side of the square views the network is trained on (where tiles or patches are cut).
    num_classes: the dataset's classes (0 when it has none): the semi-supervised methods' classifier.
    labelled_batch: rows [0, labelled_batch) of every batch come from the labelled subset, the others from the
    unlabelled pool (config.semisup); 0 when the run has no such split.
    """

    backbone: nn.Module
    image_mean: tuple[float, ...]
    image_std: tuple[float, ...]
    dtype: Any
    num_examples: int
    global_batch: int
    image_size: int
    num_classes: int = 0
    labelled_batch: int = 0

    @property
    def steps_per_epoch(self) -> float:
        """Steps per pass over the training split (a float: batches may straddle epochs)."""
        return self.num_examples / self.global_batch

    def epoch_of(self, step):
        """floor(step / steps_per_epoch) as int32: the epoch of the first example of `step`'s batch (float32
        arithmetic, monotone in the step, exact enough for epoch-level schedules; int32 step x batch would
        overflow on ImageNet)."""
        return jnp.floor(jnp.asarray(step, jnp.float32) / self.steps_per_epoch).astype(jnp.int32)

    def network(self, projector: nn.Module, predictor: nn.Module | None = None) -> SSLNetwork:
        """The online network: normalisation, this context's backbone, then the method's heads."""
        return SSLNetwork(
            backbone=self.backbone,
            projector=projector,
            predictor=predictor,
            image_mean=tuple(self.image_mean),
            image_std=tuple(self.image_std),
        )


@dataclasses.dataclass(frozen=True)
class LossInputs:
    """Everything a method's loss reads besides the online params it is differentiated on.

    batch_stats: the online network's BatchNorm statistics. target: the EMA target's {"params",
    "batch_stats"}, or {}. extra: the method's own state (queue, memory bank, centre...), or {}.
    views: the augmented views, one float32 (B, S, S, C) array per view spec, in spec order.
    indices: int32 (B,) training-set index of each example (for per-example memories).
    labels: int32 (B,) the class of each example where the run may use it, -1 where it may not (the
    unlabelled rows of a semi-supervised batch, an unlabelled split); self-supervised losses never read it.
    step: the global step (int32 scalar). key: a PRNG key for the loss's own random draws.
    soft_labels: float32 (B, classes) class distributions some rows train toward (a teacher's pseudo-labels,
    data/parts.py), zeros on the other rows; None when the batch carries none.
    """

    batch_stats: Any
    target: Any
    extra: Any
    views: list
    indices: jax.Array
    labels: jax.Array
    step: jax.Array
    key: jax.Array
    soft_labels: Any = None


jax.tree_util.register_dataclass(
    LossInputs,
    data_fields=[
        "batch_stats",
        "target",
        "extra",
        "views",
        "indices",
        "labels",
        "step",
        "key",
        "soft_labels",
    ],
    meta_fields=[],
)


@dataclasses.dataclass(frozen=True)
class LossAux:
    """What a method's loss returns besides the scalar it is differentiated on.

    batch_stats: the online network's updated BatchNorm statistics.
    metrics: named scalar terms of the loss, logged as they are.
    features: backbone features of the first view, (N, D), fed (stop-gradient) to the online linear probe.
    extra: the method's new state (already stop-gradient), or None when it has none or it is unchanged.
    pseudo_labels: int32 (B,) the class a semi-supervised loss trained each row toward without its label, -1
    where it trained none (labelled rows, rows below the confidence threshold), or None: the step measures
    them against the labels the batch hides ("pseudo_label_top1"), which the loss never sees.
    """

    batch_stats: Any
    metrics: dict
    features: jax.Array
    extra: Any = None
    pseudo_labels: Any = None


jax.tree_util.register_dataclass(
    LossAux, data_fields=["batch_stats", "metrics", "features", "extra", "pseudo_labels"], meta_fields=[]
)


@dataclasses.dataclass(frozen=True)
class Method:
    """A training objective and everything the generic step needs to run it.

    name: registry name. network: the online network, any network of the contract in models/network.py (the
    target, if any, shares its structure).
    loss(params, inputs: LossInputs) -> (loss, LossAux), differentiated w.r.t. params only.
    target_decay(step, total_steps) -> tau for the EMA target, or None when the method has no target.
    init_extra(key) -> the method's initial own state (a pytree of arrays), or None when it has none.
    after_update(params) -> params: a projection applied to the online params after each optimizer
    update (SwAV keeps its prototypes on the unit sphere), or None.
    frozen: pairs (path, steps): the params under `path` ("" for all, "projector/last_layer" for one layer)
    get no update at all in the first `steps` steps (no gradient step, no weight decay, no momentum), as a
    PyTorch optimizer skips parameters whose gradient is None, which is how the reference code freezes:
    DINO's last layer and SwAV's prototypes in the first epoch; DeepCluster-v2's whole network while its
    memory fills. A zero gradient is not enough: the weight decay would still act, scaled by LARS's trust
    ratio to trust / decay.
    reconstruct(variables, images, key) -> {column title: (B, S, S, C) images in [0, 1]}: for networks that
    rebuild their input (masked image models, colorization), what the reconstruction protocol draws beside
    each input image, in the order of the titles (jit returns dicts sorted by key; MAE: "masked", the input
    as the network saw it, then "reconstruction", with the visible patches pasted in). variables: {"params",
    "batch_stats"}; images: (B, S, S, C) in [0, 1]. None for other methods.
    memories: pairs (key of `extra`, row axis) naming the method's memories (queues, per-example banks and
    assignments): the arrays that grow with the queue or the dataset, split over the mesh's data axis along
    that axis (run_state.state_layout) rather than copied to every device.
    eval_weights: "online", or "target" where the paper evaluates the EMA of the weights (FixMatch, MixMatch,
    Mean Teacher): what the online and offline evaluations read (export chooses with --weights).
    episodes: for a method trained on N-way K-shot episodes (Prototypical Networks, MAML), their layout in the
    global batch (methods/episodic.py EpisodeLayout): every batch is then drawn as episodes of the training
    split's classes instead of walking its epochs. None for other methods.
    adapt_episode(variables, support, query, key) -> (Q, ways) query logits: the method's own classifier of
    a few-shot episode, for a method that learns how to adapt (MAML: its inner loop from the learnt
    initialisation). support (S, H, W, C) and query (Q, H, W, C) are images in [0, 1], the support rows
    class by class (S / ways of each); variables: {"params", "batch_stats"}. The episodes protocol records it
    as the "adapted" classifier. None for other methods.
    """

    name: str
    network: nn.Module
    loss: Callable[..., tuple[jax.Array, LossAux]]
    target_decay: Callable[[jax.Array, int], jax.Array] | None = None
    init_extra: Callable[[jax.Array], Any] | None = None
    after_update: Callable[[Any], Any] | None = None
    frozen: tuple[tuple[str, int], ...] = ()
    reconstruct: Callable[..., dict] | None = None
    memories: tuple[tuple[str, int], ...] = ()
    eval_weights: str = "online"
    episodes: Any = None
    adapt_episode: Callable[..., jax.Array] | None = None

    def __post_init__(self):
        if self.eval_weights not in ("online", "target"):
            raise ValueError(f"eval_weights must be 'online' or 'target', got {self.eval_weights!r}")
        if self.eval_weights == "target" and self.target_decay is None:
            raise ValueError(f"{self.name} evaluates its EMA target but has no target_decay")

    @property
    def uses_target(self) -> bool:
        return self.target_decay is not None
