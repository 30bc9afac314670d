"""Per-layer linear probes: one L-BFGS probe on each of a backbone's feature maps, as the pretext papers report
conv1 ... conv5 (Zhang, Isola and Efros 2017, "Split-Brain Autoencoders", section 4.1: each layer's map
average-pooled to about 9,000 values, a linear classifier on each; Noroozi and Favaro 2016 and Gidaris et al.
2018 report the same table).

Every map is average-pooled (torch's adaptive pooling bins) to the largest s x s grid with s * s * C at most
`max_features` (1 x 1 when even that is larger), flattened, then probed like `linear_lbfgs`.
"""

import jax.numpy as jnp

from jaxssl import augment
from jaxssl.models.alexnet import adaptive_avg_pool
from jaxssl.probes import linear

# Embedding names of the pooled maps, "layer:00:conv1", "layer:01:conv2", ...: the index keeps the network's
# order through pytrees, which sort dict keys.
PREFIX = "layer:"


def pooled_side(side: int, channels: int, max_features: int) -> int:
    """The largest s <= side with s * s * channels <= max_features, at least 1."""
    fitting = [s for s in range(1, side + 1) if s * s * channels <= max_features]
    return fitting[-1] if fitting else 1


def pool_map(feature_map, max_features: int):
    """(B, h, w, C) -> (B, s * s * C) float32, average-pooled to s = pooled_side(min(h, w), C, max_features)."""
    side = pooled_side(min(feature_map.shape[1:3]), feature_map.shape[-1], max_features)
    pooled = adaptive_avg_pool(jnp.asarray(feature_map, jnp.float32), side)
    return pooled.reshape(pooled.shape[0], -1)


def check_network(network) -> None:
    """ValueError when a network offers no feature maps to probe: it has no `feature_maps`, or its backbone,
    to which the network contract's `feature_maps` hands the images, has none."""
    lacking = [
        module
        for module in (network, getattr(network, "backbone", None))
        if module is not None and not hasattr(module, "feature_maps")
    ]
    if lacking:
        raise ValueError(
            f"the layers protocol probes a backbone's feature maps, which {type(lacking[0]).__name__} does not "
            "offer"
        )


def make_layer_embed_fn(network, image_size: int, max_features: int):
    """(params, batch_stats, batch) -> {"layer:<index>:<name>" (B, <= max_features) per map, "label", "mask"}:
    the pooled maps (eval mode) of the centre view of batch["image"] (uint8 (B, 1, H, W, C))."""

    def embed(params, batch_stats, batch):
        views = augment.center_view(batch["image"][:, 0], image_size)
        maps = network.apply(
            {"params": params, "batch_stats": batch_stats}, views, train=False, method="feature_maps"
        )
        pooled = {
            f"{PREFIX}{index:02d}:{name}": pool_map(value, max_features)
            for index, (name, value) in enumerate(maps.items())
        }
        return {**pooled, "label": batch["label"], "mask": batch["mask"]}

    return embed


def layers_record(train: dict, held_out: dict, *, num_classes: int, l2: float, steps: int, max_features: int):
    """{"layers": {name: top-1}, "dims": {name: pooled size}, ...} from the embeddings of make_layer_embed_fn
    on the labelled train examples and the eval split, the maps in the network's order."""
    names = sorted(key for key in train if key.startswith(PREFIX))
    layer = lambda key: key.split(":", 2)[2]  # noqa: E731
    top1 = {
        layer(name): linear.linear_probe_top1(
            train[name],
            train["label"],
            held_out[name],
            held_out["label"],
            num_classes=num_classes,
            l2=l2,
            steps=steps,
        )
        for name in names
    }
    dims = {layer(name): int(train[name].shape[1]) for name in names}
    return {"layers": top1, "dims": dims, "max_features": max_features, "l2": l2, "steps": steps}
