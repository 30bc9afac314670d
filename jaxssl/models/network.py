"""The network contract, and the network every joint-embedding method trains.

Every network a method builds (`Method.network`) offers:
  features(x, train) -> (B, D) float32   the representation of images x in [0, 1]: what kNN, the probes,
                                         fine-tuning, health and export use, and nothing else
  __call__(x, train, ...)                on a full-image batch in [0, 1] it creates every parameter
                                         (run_state.init_state calls it once)
and, where a crop policy, a dense head or a per-layer probe needs it,
  feature_maps(x, train) -> {name: (B, h, w, C)}   the backbone's named intermediate maps, in order.

A network owns its input path: its own normalisation, and whatever it makes of the image (an L channel,
tiles, a patch grid, masked tokens) both in training and in `features`, so evaluation stays correct. It may
hold no BatchNorm at all (then it has no "batch_stats" collection); dropout and drop path act in training
only when the caller supplies a "dropout" PRNG stream (methods pass one for the online network; the EMA
target and every evaluation run without it, deterministically).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp


def normalize(x, mean: tuple[float, ...], std: tuple[float, ...]):
    """Images in [0, 1] standardised per channel with the dataset's mean and std."""
    return (x - jnp.asarray(mean, x.dtype)) / jnp.asarray(std, x.dtype)


class FeatureNetwork(nn.Module):
    """A backbone behind the input normalisation, and nothing else: x in [0, 1] -> {"features"}. The network
    of supervised training from scratch (and of any test that needs only the contract)."""

    backbone: nn.Module
    image_mean: tuple[float, ...]
    image_std: tuple[float, ...]

    def features(self, x, train: bool):
        """Backbone representation of images in [0, 1]; what kNN and the linear probes evaluate."""
        return self.backbone(normalize(x, self.image_mean, self.image_std), train=train)

    def feature_maps(self, x, train: bool):
        """The backbone's named intermediate maps of images in [0, 1]."""
        return self.backbone.feature_maps(normalize(x, self.image_mean, self.image_std), train=train)

    def __call__(self, x, train: bool):
        return {"features": self.features(x, train)}


class SSLNetwork(FeatureNetwork):
    """x in [0, 1] -> {"features": backbone output, "projection": z, "prediction": q(z) if a predictor}; its
    features and feature maps are FeatureNetwork's."""

    projector: nn.Module
    predictor: nn.Module | None

    def head_features(self, x, train: bool, layers: int):
        """The features through the first `layers` hidden layers of the projector (an MLP), with its params:
        what fine-tuning from a layer of the projection head trains on (SimCLR v2, Chen et al. 2020b)."""
        return self.projector(self.features(x, train), train=train, hidden_layers=layers)

    def __call__(self, x, train: bool):
        features = self.features(x, train)
        projection = self.projector(features, train=train)
        outputs = {"features": features, "projection": projection}
        if self.predictor is not None:
            outputs["prediction"] = self.predictor(projection, train=train)
        return outputs


def has_classifier(network: nn.Module) -> bool:
    """Whether the network's outputs hold "logits" of the dataset's classes, evaluated as they are."""
    return isinstance(network, ClassifierNetwork)


class ClassifierNetwork(FeatureNetwork):
    """x in [0, 1] -> {"features", "logits": a linear classifier on the features}: the network of the
    semi-supervised methods, trained on the labels and evaluated by its own classifier (FixMatch's WRN ends in
    one fully connected layer on the pooled features, Sohn et al. 2020, appendix)."""

    num_classes: int
    # On the classifier's input, in training with a "dropout" rng (Noisy Student's noise).
    dropout: float = 0.0

    def _head(self, features, train: bool, name: str):
        """Class logits of `features` from the Dense named `name` (dropout first, in training)."""
        dropped = nn.Dropout(self.dropout, deterministic=not (train and self.has_rng("dropout")))(
            jnp.asarray(features, jnp.float32)
        )
        return nn.Dense(self.num_classes, name=name)(dropped)

    @nn.compact
    def __call__(self, x, train: bool):
        features = self.features(x, train)
        return {"features": features, "logits": self._head(features, train, "classifier")}


class AuxiliaryHeadNetwork(ClassifierNetwork):
    """The classifier network with a second linear head on the same features: x in [0, 1] -> {"features",
    "logits", "auxiliary": Dense(auxiliary_dim)(features)}, S4L's self-supervised head beside its classifier
    (Zhai et al. 2019, section 3: rotation logits, or exemplar embeddings)."""

    auxiliary_dim: int = 4

    @nn.compact
    def __call__(self, x, train: bool):
        features = self.features(x, train)
        auxiliary = nn.Dense(self.auxiliary_dim, name="auxiliary")(jnp.asarray(features, jnp.float32))
        return {
            "features": features,
            "logits": self._head(features, train, "classifier"),
            "auxiliary": auxiliary,
        }


class CoTrainingNetwork(ClassifierNetwork):
    """Two classifier networks of the same architecture (co-training): the first is `backbone` and
    "classifier", the second `second_backbone` and "second_classifier". `features` and `feature_maps` are the
    first network's (what the frozen protocols, fine-tuning and export read); `__call__`'s "logits" are the
    pair's ensemble, log of the mean of the two softmaxes (what the classifier protocol reads); `pair` runs
    each network on its own view (training)."""

    second_backbone: nn.Module | None = None

    @nn.compact
    def pair(self, views, train: bool):
        """{"first", "second"}: each network's class logits on its own view of views = (x_first, x_second),
        and "features": the first network's."""
        x_first, x_second = views
        features = self.features(x_first, train)
        second = self.second_backbone(normalize(x_second, self.image_mean, self.image_std), train=train)
        return {
            "features": features,
            "first": self._head(features, train, "classifier"),
            "second": self._head(second, train, "second_classifier"),
        }

    def __call__(self, x, train: bool):
        outputs = self.pair((x, x), train)
        probabilities = (jax.nn.softmax(outputs["first"]) + jax.nn.softmax(outputs["second"])) / 2
        return {**outputs, "logits": jnp.log(probabilities)}
