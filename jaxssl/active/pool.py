"""The pool an active-learning loop chooses from: a frozen encoder's features of every training example (the
rows that labels may be asked for) and of the test split (where each round's classifier is measured), from
the evaluation's embedding pass."""

import dataclasses
import os

import numpy as np

from jaxssl import step as step_lib
from jaxssl.evaluation import frozen, runner
from jaxssl.evaluation.context import Context
from jaxssl.probes import linear
from jaxssl.rundir import checkpoint, files


@dataclasses.dataclass(frozen=True)
class Pool:
    """features, labels: the training split's (N, D) backbone features and (N,) labels, in stored order (a
    label is read only once its row is chosen). test_features, test_labels: the test split's. probe_features,
    probe_test: both standardised by the pool's mean and std (the linear probe's inputs); unit: the pool's
    features scaled to unit length (the coverage rules' space). encoder: where the features come from."""

    features: np.ndarray
    labels: np.ndarray
    test_features: np.ndarray
    test_labels: np.ndarray
    num_classes: int
    probe_l2: float
    probe_steps: int
    encoder: dict
    probe_features: np.ndarray = dataclasses.field(init=False, repr=False)
    probe_test: np.ndarray = dataclasses.field(init=False, repr=False)
    unit: np.ndarray = dataclasses.field(init=False, repr=False)

    def __post_init__(self):
        features = np.asarray(self.features, np.float32)
        probe_features, probe_test = linear.standardize(features, np.asarray(self.test_features, np.float32))
        norms = np.maximum(np.linalg.norm(features, axis=1, keepdims=True), 1e-12)
        object.__setattr__(self, "probe_features", probe_features)
        object.__setattr__(self, "probe_test", probe_test)
        object.__setattr__(self, "unit", features / norms)

    @property
    def size(self) -> int:
        return len(self.labels)


def encoder_config(encoder_dir: str, dataset: str, data_dirs: dict):
    """The encoder run's config with the dataset's folders of `data_dirs` ({"manual_dir", "data_dir"}, each
    only where given), or ValueError when the run was trained on another dataset than the pool's; read
    before anything is loaded."""
    config = files.run_config(encoder_dir, "--encoder", ": name a run directory of jaxssl.main")
    if config.data.dataset != dataset:
        raise ValueError(
            f"--encoder={encoder_dir} was trained on {config.data.dataset}, the pool is {dataset}: an "
            f"encoder of another dataset; pass --dataset={config.data.dataset} or an encoder of {dataset}"
        )
    for key, value in data_dirs.items():
        if value:
            config.data[key] = value
    return config


def encoder_facts(encoder_dir: str, config) -> dict:
    """What a loop records of its encoder: the directory as given, method, backbone, dataset and the step of
    its newest checkpoint (FileNotFoundError when it has none)."""
    steps = checkpoint.saved_steps(encoder_dir)
    if not steps:
        raise FileNotFoundError(f"--encoder={encoder_dir} has no checkpoint: train it first")
    return {
        "encoder": os.path.normpath(encoder_dir),
        "method": config.method.name,
        "backbone": config.model.backbone,
        "dataset": config.data.dataset,
        "step": int(steps[-1]),
    }


def embed_pool(exp, encoder_dir: str, config, facts: dict) -> Pool:
    """The pool of the encoder's newest checkpoint, `exp` its prepared run (experiment.prepare(config)): one
    pass of the evaluation's embedding over the training split (the one the encoder's config trains on) and
    the test split (evaluation/frozen.py embed_splits)."""
    state = runner.network_state(exp, encoder_dir, "checkpoint")
    context = Context(
        exp=exp,
        config=config,
        state=state,
        labelled=exp.train_source,
        workdir=encoder_dir,
        title="",
        header={},
    )
    found = frozen.embed_splits(context, step_lib.make_embed_fn(exp.method.network, exp.image_size))
    return Pool(
        features=found["train"]["features"],
        labels=found["train"]["label"],
        test_features=found["eval"]["features"],
        test_labels=found["eval"]["label"],
        num_classes=int(exp.info.num_classes),
        probe_l2=float(config.eval.linear_l2),
        probe_steps=int(config.eval.linear_steps),
        encoder=facts,
    )
