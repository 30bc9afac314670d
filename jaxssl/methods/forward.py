"""How methods run their network on views in training mode: together, one by one, or in BatchNorm groups."""

import jax
import jax.numpy as jnp


def forward(network, variables, images):
    """Training-mode outputs of `network` on one batch, and its updated BatchNorm statistics."""
    outputs, updates = network.apply(variables, images, train=True, mutable=["batch_stats"])
    return outputs, updates.get("batch_stats", {})


def _rows(tree, start: int, count: int):
    """Rows start .. start + count - 1 of every leaf of `tree`."""
    return jax.tree.map(lambda x: x[start : start + count], tree)


def forward_views(network, params, batch_stats, views, together: bool = True):
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
    for group in groups:
        outputs, batch_stats = forward(
            network, {"params": params, "batch_stats": batch_stats}, jnp.concatenate(group, axis=0)
        )
        rows = group[0].shape[0]
        per_view.extend(_rows(outputs, index * rows, rows) for index in range(len(group)))
    return per_view, batch_stats


def forward_in_groups(network, variables, images, num_groups: int):
    """Outputs with BatchNorm statistics computed separately in `num_groups` consecutive groups of the batch.

    MoCo's per-device BatchNorm (He et al. 2020, section 3.3), made independent of the device count: the
    same groups on 1 GPU, 8 GPUs or a pod. The running statistics move by the mean of the groups' updates.
    """
    batch = images.shape[0]
    if batch % num_groups:
        raise ValueError(f"a batch of {batch} does not split into {num_groups} BatchNorm groups")
    grouped = images.reshape((num_groups, batch // num_groups) + images.shape[1:])
    outputs, batch_stats = jax.vmap(lambda x: forward(network, variables, x))(grouped)
    merge = lambda x: x.reshape((batch,) + x.shape[2:])  # noqa: E731
    return jax.tree.map(merge, outputs), jax.tree.map(lambda s: jnp.mean(s, axis=0), batch_stats)
