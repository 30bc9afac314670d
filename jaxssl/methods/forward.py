"""How methods run their network on views in training mode: together, one by one, or in BatchNorm groups.

`key` is the online network's dropout stream (methods pass LossInputs.key): dropout and drop path act only
where one is given, so the EMA target's forwards (no key) are deterministic, as DINO's teacher has no drop
path (Caron et al. 2021, appendix). Group g of a call draws from fold_in(key, DROPOUT_SALT + g).
"""

import jax
import jax.numpy as jnp

DROPOUT_SALT = 1 << 16  # far above any view-group count; keeps the stream apart from the loss's own draws


def dropout_rngs(key, group: int) -> dict:
    """The `rngs` of one forward: {"dropout": a key of its own} when `key` is given, else none."""
    return {} if key is None else {"dropout": jax.random.fold_in(key, DROPOUT_SALT + group)}


def forward(network, variables, images, rngs=None, method=None):
    """Training-mode outputs of `network` (of its `method`, by default `__call__`) on one batch, and its
    updated BatchNorm statistics."""
    outputs, updates = network.apply(
        variables, images, train=True, mutable=["batch_stats"], rngs=rngs or {}, method=method
    )
    return outputs, updates.get("batch_stats", {})


def probe_features(network, params, batch_stats, images):
    """Stop-gradient features of whole images in inference mode: the online probe's input for methods whose
    training forward sees something else (tiles, lightness maps, corrupted images), so that it learns on
    what evaluation feeds it."""
    variables = {"params": params, "batch_stats": batch_stats}
    return jax.lax.stop_gradient(network.apply(variables, images, train=False, method="features"))


def _rows(tree, start: int, count: int):
    """Rows start .. start + count - 1 of every leaf of `tree`."""
    return jax.tree.map(lambda x: x[start : start + count], tree)


def forward_views(network, params, batch_stats, views, together: bool = True, key=None):
    """Per-view outputs (a list, in view order) and the updated BatchNorm statistics.

    together=True: consecutive views of the same size run as one batch, so their BatchNorm statistics are
    shared (SimCLR's two views; SwAV's and DINO's multi-crop, one batch per resolution). together=False:
    each view is its own batch (BYOL, SimSiam, Barlow Twins and VICReg as their papers run them).
    """
    groups = []
    for view in views:
        if together and groups and groups[-1][0].shape == view.shape:
            groups[-1].append(view)
        else:
            groups.append([view])
    per_view = []
    for index, group in enumerate(groups):
        outputs, batch_stats = forward(
            network,
            {"params": params, "batch_stats": batch_stats},
            jnp.concatenate(group, axis=0),
            dropout_rngs(key, index),
        )
        rows = group[0].shape[0]
        per_view.extend(_rows(outputs, index * rows, rows) for index in range(len(group)))
    return per_view, batch_stats


def forward_in_groups(network, variables, images, num_groups: int, key=None):
    """Outputs with BatchNorm statistics computed separately in `num_groups` consecutive groups of the batch.

    MoCo's per-device BatchNorm (He et al. 2020, section 3.3), made independent of the device count: the
    same groups on 1 GPU, 8 GPUs or a pod. The running statistics move by the mean of the groups' updates.
    """
    batch = images.shape[0]
    if batch % num_groups:
        raise ValueError(f"a batch of {batch} does not split into {num_groups} BatchNorm groups")
    grouped = images.reshape((num_groups, batch // num_groups) + images.shape[1:])
    if key is None:
        outputs, batch_stats = jax.vmap(lambda x: forward(network, variables, x))(grouped)
    else:
        keys = jnp.stack([dropout_rngs(key, group)["dropout"] for group in range(num_groups)])
        outputs, batch_stats = jax.vmap(lambda x, k: forward(network, variables, x, {"dropout": k}))(
            grouped, keys
        )
    merge = lambda x: x.reshape((batch,) + x.shape[2:])  # noqa: E731
    return jax.tree.map(merge, outputs), jax.tree.map(lambda s: jnp.mean(s, axis=0), batch_stats)
