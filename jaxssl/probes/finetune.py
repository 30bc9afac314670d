"""Supervised training of a Classifier on labelled batches, then its top-1 on the eval split.

One loop serves three protocols: the papers' linear probe (frozen backbone), fine-tuning (everything
trains, from the pretrained backbone) and the supervised baseline (the same, from a random backbone). The
recipe is SimCLR's (Chen et al. 2020, appendix B.5 and B.6) and BYOL's (Grill et al. 2020, appendix C.1):
SGD with Nesterov momentum, lr = base_lr x batch / 256 with cosine decay, random resized crop and flip
for training, the centre view for testing. Fine-tuning may use LARS instead of SGD (Recipe.optimizer):
its step is a fixed fraction of each layer's weight norm, so inits whose weights differ in scale, as
pretrained and random networks do, are fine-tuned with the same relative step. The step is jitted over
the mesh like pretraining: the batch is split over devices (the state replicated, its weights not split as
pretraining's large ones are), so BatchNorm statistics cover the global batch. Its training resumes exactly
from a saved ClassifierState (train_classifier's `progress`): the batches and the step's keys are indexed
by the step.
"""

import dataclasses
import math

import flax.struct
import jax
import jax.numpy as jnp
import optax

from jaxssl import augment, optim, schedules, sharding, stop
from jaxssl.models.classifier import Classifier
from jaxssl.models.heads import MLP
from jaxssl.probes import classify

RECIPE_OPTIMIZERS = ("sgd", "lars", "adamw")
DROPOUT_SALT = 1 << 20  # the dropout stream of step s: fold_in(fold_in(key, s), DROPOUT_SALT)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How a supervised protocol trains. epochs: passes over the labelled examples. base_lr: the learning
    rate at batch 256, scaled linearly with batch_size. min_crop_scale: the smallest crop area fraction.
    optimizer: "sgd" (momentum, L2 decay added to the gradient), "lars" (You et al. 2017: each kernel's
    update rescaled to trust_coefficient x lr x its norm, biases and norm parameters plain SGD) or "adamw"
    (decoupled decay, betas b1, b2: MAE's fine-tuning, He et al. 2022, appendix A.3). layer_decay < 1:
    layer-wise lr decay (optim.layer_decay_scales; ViTs only). drop_path >= 0 rebuilds the backbone with
    that stochastic-depth rate for the protocol (-1 keeps the pretraining network's). head_layers > 0 keeps
    the first head_layers hidden layers of the network's projector, with their pretrained weights, between
    the backbone and the new linear classifier (SimCLR v2, Chen et al. 2020b, section 2: 1, the first layer of
    a 3-layer head); 0 is the backbone alone."""

    epochs: float
    batch_size: int
    base_lr: float
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 0.0
    warmup_epochs: float = 0.0
    min_crop_scale: float = 0.08
    optimizer: str = "sgd"
    trust_coefficient: float = 0.001
    b1: float = 0.9
    b2: float = 0.999
    layer_decay: float = 1.0
    drop_path: float = -1.0
    head_layers: int = 0

    def steps(self, examples: int) -> int:
        return max(1, math.ceil(self.epochs * examples / self.batch_size))

    def learning_rate(self, examples: int) -> optax.Schedule:
        peak = schedules.scaled_learning_rate(self.base_lr, self.batch_size, "linear")
        warmup = math.ceil(self.warmup_epochs * examples / self.batch_size)
        return schedules.warmup_cosine(peak, self.steps(examples), warmup)

    def view(self, image_size: int, host_crop: bool) -> augment.ViewSpec:
        """Random resized crop (done on the host for large images) and flip; no colour changes."""
        return augment.ViewSpec(
            size=image_size,
            random_crop=not host_crop,
            crop_scale=(self.min_crop_scale, 1.0),
            jitter_prob=0.0,
            gray_prob=0.0,
        )


def with_drop_path(network, rate: float):
    """`network` with its backbone's stochastic-depth rate set to `rate`; unchanged for rate < 0."""
    if rate < 0:
        return network
    if "drop_path" not in getattr(network.backbone, "__dataclass_fields__", {}):
        raise ValueError(
            f"drop_path={rate} in the recipe, but the backbone {type(network.backbone).__name__} has no drop "
            "path (set drop_path=-1.0)"
        )
    return network.clone(backbone=network.backbone.clone(drop_path=rate))


def check_head_layers(network, layers, where: str) -> None:
    """ValueError unless `layers` (config.<where>.head_layers) is 0, or at most the hidden layers of the
    network's MLP projector (its output layer, the contrastive embedding, is not a place to fine-tune from)."""
    if isinstance(layers, bool) or not isinstance(layers, int) or layers < 0:
        raise ValueError(
            f"config.{where}.head_layers must be an int >= 0 (0: the backbone alone), got {layers!r}"
        )
    if not layers:
        return
    projector = getattr(network, "projector", None)
    if not isinstance(projector, MLP):
        raise ValueError(
            f"config.{where}.head_layers={layers} keeps layers of the projection head, but this network has no "
            "MLP projector: set it to 0"
        )
    depth = len(projector.hidden_dims)
    if layers > depth:
        raise ValueError(
            f"config.{where}.head_layers={layers}, but the projection head has {depth} hidden layer(s) before its "
            f"output layer: choose 0 to {depth}"
        )


def optimizer_for(
    classifier: Classifier, recipe: Recipe, learning_rate, params
) -> optax.GradientTransformation:
    """The recipe's optimiser over the trainable params (layer-wise lr decay when recipe.layer_decay < 1); a
    frozen network gets no update at all (no decay, no momentum)."""
    trained = optim.make_optimizer(
        recipe.optimizer,
        learning_rate,
        weight_decay=recipe.weight_decay,
        momentum=recipe.momentum,
        nesterov=recipe.nesterov,
        trust_coefficient=recipe.trust_coefficient,
        b1=recipe.b1,
        b2=recipe.b2,
    )
    if recipe.layer_decay < 1.0:
        trained = optax.chain(
            trained, optim.scale_by_layer(optim.layer_decay_scales(params, recipe.layer_decay))
        )
    frozen = () if classifier.train_backbone else ("network",)
    return optax.multi_transform(
        {"train": trained, "freeze": optax.set_to_zero()},
        lambda params: {name: "freeze" if name in frozen else "train" for name in params},
    )


def classification_loss(logits, labels):
    """Mean cross-entropy and top-1 accuracy of integer labels."""
    loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()
    return loss, jnp.mean(jnp.argmax(logits, -1) == labels)


@flax.struct.dataclass
class ClassifierState:
    """A supervised protocol's training state. tail_loss: the sum of the training losses of the steps from
    make_step's `tail_from` on (the final training loss of the record, kept in the state so that a resumed
    run reports the same number)."""

    step: jax.Array
    params: dict
    batch_stats: dict
    opt_state: optax.OptState
    tail_loss: jax.Array

    @classmethod
    def create(cls, variables: dict, optimizer) -> "ClassifierState":
        return cls(
            step=jnp.zeros((), jnp.int32),
            params=variables["params"],
            batch_stats=variables["batch_stats"],
            opt_state=optimizer.init(variables["params"]),
            tail_loss=jnp.zeros((), jnp.float32),
        )


def make_step(classifier: Classifier, optimizer, view: augment.ViewSpec, base_key, tail_from: int = 0):
    """(state, batch) -> (state, metrics): one augmented view per example, cross-entropy, SGD; the losses
    of steps tail_from, tail_from + 1, ... are summed into state.tail_loss."""

    def step(state: ClassifierState, batch):
        key = jax.random.fold_in(base_key, state.step)
        images = augment.make_views(key, batch["image"], (view,))[0]

        def loss_fn(params):
            logits, updates = classifier.apply(
                {"params": params, "batch_stats": state.batch_stats},
                images,
                train=True,
                mutable=["batch_stats"],
                rngs={"dropout": jax.random.fold_in(key, DROPOUT_SALT)},
            )
            loss, top1 = classification_loss(logits, batch["label"])
            return loss, (updates.get("batch_stats", {}), top1)

        (loss, (batch_stats, top1)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        new_state = ClassifierState(
            step=state.step + 1,
            params=optax.apply_updates(state.params, updates),
            batch_stats=batch_stats,
            opt_state=opt_state,
            tail_loss=state.tail_loss + jnp.where(state.step >= tail_from, loss.astype(jnp.float32), 0.0),
        )
        return new_state, {"loss": loss, "top1": top1}

    return step


def pretrained_subtree(fresh, pretrained, where: str):
    """The subtrees of `pretrained` at the keys of `fresh` (what the classifier's features path created),
    each checked to have fresh's structure and shapes; of the projector, the layers fresh holds (the first
    ones, Classifier.head_layers)."""
    if not fresh:
        return fresh
    missing = sorted(set(fresh) - set(pretrained))
    if missing:
        raise ValueError(f"the pretrained network has no {missing} in its {where}; it is another network")
    chosen = {name: pretrained[name] for name in fresh}
    if "projector" in chosen:
        kept = set(fresh["projector"])
        chosen["projector"] = {layer: value for layer, value in chosen["projector"].items() if layer in kept}
    shapes = lambda tree: jax.tree.map(jnp.shape, tree)  # noqa: E731
    if jax.tree.structure(chosen) != jax.tree.structure(fresh) or shapes(chosen) != shapes(fresh):
        raise ValueError(f"the pretrained {where} do not fit the classifier's network (another backbone?)")
    return chosen


def initial_variables(classifier: Classifier, sample, key, pretrained=None) -> dict:
    """The classifier's params and batch statistics: fresh, with the network's replaced by the subtrees of
    `pretrained` ({"params", "batch_stats"} of the pretrained network, all of it) that its features path
    uses, when given."""
    variables = classifier.init(key, sample, train=False)
    params, batch_stats = dict(variables["params"]), dict(variables.get("batch_stats", {}))
    if pretrained is not None:
        params["network"] = pretrained_subtree(params["network"], pretrained["params"], "params")
        if "network" in batch_stats:
            batch_stats["network"] = pretrained_subtree(
                batch_stats["network"], pretrained["batch_stats"], "batch statistics"
            )
    return {"params": params, "batch_stats": batch_stats}


def train_and_test(classifier: Classifier, *, eval_batches, **training) -> dict:
    """Trains `classifier` (train_classifier's arguments), then tests it on `eval_batches`: its accuracy
    (classify.eval_accuracy) and how it trained."""
    variables, summary = train_classifier(classifier, **training)
    tested = classify.eval_accuracy(
        classifier, variables, eval_batches, training["image_size"], training["mesh"]
    )
    return {**tested, **summary}


def train_classifier(
    classifier: Classifier,
    *,
    recipe: Recipe,
    examples: int,
    batches_from,
    image_size: int,
    host_crop: bool,
    channels: int,
    mesh,
    key,
    pretrained=None,
    progress=None,
) -> tuple[dict, dict]:
    """Trains `classifier` for recipe.steps(examples) steps on `batches_from(start_step)` (host batches of
    recipe.batch_size labelled examples from that step on): its trained {"params", "batch_stats"}, and the
    steps, epochs, batch, peak learning rate and mean training loss of the last tenth of the steps.

    `progress` (evaluation/resumable.py), when given, makes the training resumable: its restore(abstract
    state) returns the saved ClassifierState to go on from (or None), and its after_step(done, state), after
    each step (`done` steps done), saves the state when due and may stop the training (by raising, after
    saving)."""
    num_steps = recipe.steps(examples)
    tail_steps = max(1, num_steps // 10)
    learning_rate = recipe.learning_rate(examples)
    init_key, step_key = jax.random.split(key)
    sample = jnp.zeros((2, image_size, image_size, channels), jnp.float32)
    abstract = jax.eval_shape(lambda: classifier.init(init_key, sample, train=False))
    optimizer = optimizer_for(classifier, recipe, learning_rate, abstract["params"])

    def create(pretrained):
        return ClassifierState.create(initial_variables(classifier, sample, init_key, pretrained), optimizer)

    create = jax.jit(create, out_shardings=sharding.replicated(mesh))
    state = None if progress is None else progress.restore(jax.eval_shape(create, pretrained))
    state = create(pretrained) if state is None else state
    step = jax.jit(
        make_step(
            classifier, optimizer, recipe.view(image_size, host_crop), step_key, num_steps - tail_steps
        ),
        donate_argnums=0,
    )
    start_step = int(state.step)
    batches = batches_from(start_step)
    in_flight = stop.StepsInFlight()
    for done in range(start_step + 1, num_steps + 1):
        state, step_metrics = step(state, sharding.to_global(next(batches), mesh))
        in_flight.add(step_metrics["loss"])
        if progress is not None:
            progress.after_step(done, state)
    variables = {"params": state.params, "batch_stats": state.batch_stats}
    return variables, {
        "steps": num_steps,
        "epochs": recipe.epochs,
        "batch_size": recipe.batch_size,
        "peak_lr": schedules.scaled_learning_rate(recipe.base_lr, recipe.batch_size, "linear"),
        "final_train_loss": float(state.tail_loss) / tail_steps,
    }
