"""Weights that come back: a run's backbone started from a weight file (config.init.weights: exported by
jaxssl, or torchvision's or timm's, named as jaxssl/weights/export.py names them) or from another run's newest
checkpoint (config.init.workdir), checked against the run's backbone before anything is written.
"""

import os

import jax
import numpy as np
from safetensors.numpy import load_file

from jaxssl import experiment as experiment_lib
from jaxssl.rundir import files
from jaxssl.weights.export import external_name, from_torch_layout, named_arrays, newest_backbone


class InitWeightsError(ValueError):
    """config.init.weights names a file that cannot start this run; nothing was written."""


def file_naming(names) -> str:
    """Which naming a weight file uses, from its array names."""
    if any(name.startswith("params/") for name in names):
        return "native"
    return "timm" if "patch_embed.proj.weight" in names else "torchvision"


def read_arrays(path: str) -> dict:
    if not os.path.isfile(path):
        raise InitWeightsError(f"config.init.weights={path!r} is not a file")
    try:
        if path.endswith(".npz"):
            with np.load(path) as arrays:
                return dict(arrays)
        return load_file(path)
    except Exception as error:  # safetensors and numpy raise several types for unreadable files
        raise InitWeightsError(f"config.init.weights={path!r} cannot be read ({error})") from None


def backbone_from_file(path: str, layout) -> dict:
    """{"params", "batch_stats"} of the backbone, read from an exported (or torchvision/timm) weight file and
    checked against the backbone of the run's state layout: InitWeightsError naming every missing or
    misfitting array.
    The file's heads (fc, head, probe) are not read: a run trains its own."""
    return backbone_from_arrays(read_arrays(path), layout, f"config.init.weights={path!r}")


def backbone_from_run(run_dir: str, layout) -> dict:
    """backbone_from_file of another run directory's newest checkpoint: its online backbone (what
    --mode=export writes by default), read through the config it saved, checked against this run's layout
    alike."""
    exp = experiment_lib.prepare(files.run_config(run_dir, "config.init.workdir"))
    _, backbone = newest_backbone(exp, run_dir, "online")
    return backbone_from_arrays(
        named_arrays("native", backbone, probe={}), layout, f"config.init.workdir={run_dir!r}"
    )


def backbone_from_arrays(arrays: dict, layout, source: str) -> dict:
    """The backbone of `layout` filled from named arrays (any naming), or InitWeightsError naming `source` and
    every missing or misfitting array."""
    naming = file_naming(arrays)
    backbone_layout = layout_of_backbone(layout)
    problems, loaded = [], {}
    for collection in ("params", "batch_stats"):
        for key_path, leaf in jax.tree_util.tree_leaves_with_path(backbone_layout.get(collection, {})):
            ours = "/".join(str(k.key) for k in key_path)
            name = external_name(naming, collection, ours)
            if name not in arrays:
                problems.append(f"{name}: missing")
                continue
            value = arrays[name] if naming == "native" else from_torch_layout(ours, arrays[name])
            if tuple(value.shape) != tuple(leaf.shape):
                problems.append(
                    f"{name}: {tuple(value.shape)} in the file, this run's backbone needs {tuple(leaf.shape)}"
                )
            loaded[(collection, *(str(k.key) for k in key_path))] = value.astype(leaf.dtype)
    if problems:
        raise InitWeightsError(
            f"{source} ({naming} names) does not fit this run's backbone ({len(problems)} arrays, e.g. "
            f"{problems[:3]}): weights of another backbone, width, stem or channel count. Nothing was written"
        )
    return {
        collection: jax.tree_util.tree_map_with_path(
            lambda key_path, _, c=collection: loaded[(c, *(str(k.key) for k in key_path))],
            backbone_layout.get(collection, {}),
        )
        for collection in ("params", "batch_stats")
    }


def layout_of_backbone(layout) -> dict:
    """The backbone's part of a state layout: {"params", "batch_stats"}."""
    return {
        "params": layout.params["model"]["backbone"],
        "batch_stats": layout.batch_stats.get("backbone", {}),
    }


def with_backbone(state, backbone: dict, layout):
    """The fresh state with its backbone (and the target's, which starts as a copy of it) set to `backbone`,
    placed as the layout places it. The optimizer's fresh state does not depend on the parameters' values.
    The online and target copies are separate buffers: the step donates the state, and one buffer donated
    twice crashes it."""

    def placed():
        return jax.tree.map(
            lambda value, leaf: jax.device_put(np.array(value), leaf.sharding),
            backbone,
            layout_of_backbone(layout),
        )

    def swapped(variables: dict, new: dict) -> dict:
        return {
            "params": {**variables["params"], "backbone": new["params"]},
            "batch_stats": {**variables["batch_stats"], "backbone": new["batch_stats"]}
            if variables["batch_stats"]
            else variables["batch_stats"],
        }

    online = swapped({"params": state.params["model"], "batch_stats": state.batch_stats}, placed())
    target = swapped(state.target, placed()) if state.target else state.target
    return state.replace(
        params={**state.params, "model": online["params"]}, batch_stats=online["batch_stats"], target=target
    )
