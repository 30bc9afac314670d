"""Weights that leave: the backbone of a run's newest checkpoint, with the online probe as its classifier, as
safetensors or npz, named as torchvision's ResNets or timm's ViTs name them, or as jaxssl stores them, with a
metadata record. The names and layouts serve the way back too (jaxssl/weights/load.py).

  python -m jaxssl.main --mode=export --workdir=DIR [--format=safetensors|npz] [--naming=torchvision|timm|native]
      [--weights=evaluated|online|target]

--weights=evaluated (the default) exports what the run's evaluation reads (Method.eval_weights): the EMA target
for the methods evaluated on it (I-JEPA, MSN, FixMatch, MixMatch, Mean Teacher, UDA and the supervised
baseline), the online network for every other. Written to DIR/export/<naming>_step<step>_<weights>.<format>, <weights>
the one exported (online or target), beside <same>.json (the metadata: method, backbone, stem, step, the
input normalisation the network applies first); an existing file is never replaced (a later export of the
same name gets _1, _2...). torchvision naming: conv kernels transposed from
(H, W, in, out) to (out, in, H, W), BatchNorm's scale/bias/mean/var as weight/bias/running_mean/running_var
(with num_batches_tracked), the probe as `fc`, so `torchvision.models.resnet50(num_classes=C)` loads it with
`load_state_dict(strict=True)`; a CIFAR-stem network first needs `model.conv1 = nn.Conv2d(3, 64, 3, 1, 1,
bias=False)` and `model.maxpool = nn.Identity()`, and the images normalised with the recorded mean and std.
timm naming: `timm.models.vision_transformer.VisionTransformer(**metadata["timm_kwargs"])` loads it strictly.
"""

import json
import os

import jax
import numpy as np
import safetensors.numpy

from jaxssl import catalog, run_state, sharding
from jaxssl import experiment as experiment_lib
from jaxssl.rundir import checkpoint, files
from jaxssl.state import evaluated_weights

FORMATS = ("safetensors", "npz")
NAMINGS = ("torchvision", "timm", "native")
WEIGHTS = ("evaluated", "online", "target")
TORCHVISION_RESNETS = ("resnet18", "resnet34", "resnet50")
BATCH_NORM_NAMES = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}
LAYER_NORM_NAMES = {"scale": "weight", "bias": "bias"}


class ExportError(ValueError):
    """What was asked cannot be exported; nothing was written."""


def described(model) -> str:
    """The backbone of config.model with what decides its torchvision counterpart: a ResNet's width and
    normalisation; a ViT's LayerNorm."""
    family = catalog.family_of(model.backbone)
    if family == "resnet":
        width, norm = float(model.get("width_multiplier", 1.0)), model.get("norm", "batch")
        return f"{model.backbone} (width x{width}, {norm} norm)"
    if family == "vit":
        return f"{model.backbone} (a ViT, layer norm)"
    return model.backbone


def check_request(config, naming: str, weights: str, method_uses_target: bool) -> None:
    """ExportError, before anything loads, for a naming the backbone has no counterpart in, or target weights
    of a method without a target."""
    model = config.model
    if naming == "torchvision":
        options = (model.get("width_multiplier", 1.0), model.get("norm", "batch"))
        if model.backbone not in TORCHVISION_RESNETS or options != (1.0, "batch"):
            raise ExportError(
                f"{described(model)} has no torchvision counterpart: torchvision naming takes "
                f"{list(TORCHVISION_RESNETS)} at width x1 with BatchNorm; use --naming=timm for a ViT, or "
                "--naming=native"
            )
    if naming == "timm" and not model.backbone.startswith("vit"):
        raise ExportError(f"{model.backbone} is not a ViT: timm naming takes the ViTs; use --naming=native")
    if weights == "target" and not method_uses_target:
        raise ExportError(f"{config.method.name} has no target network: use --weights=online")


def flat(tree, prefix: str) -> dict:
    """{'prefix/a/b': array} of a nested dict of arrays."""
    return {
        "/".join([prefix, *(str(k.key) for k in path)]): np.asarray(leaf)
        for path, leaf in jax.tree_util.tree_leaves_with_path(tree)
    }


def torchvision_module(module: str) -> str:
    """torchvision's ResNet name of one of our modules: stem_conv -> conv1, stem_bn -> bn1,
    stage<s>_block<b>/conv<k> -> layer<s+1>.<b>.conv<k>, proj_conv -> downsample.0, proj_bn -> downsample.1."""
    parts = module.split("/")
    if parts == ["stem_conv"]:
        return "conv1"
    if parts == ["stem_bn"]:
        return "bn1"
    stage, block = parts[0].removeprefix("stage").split("_block")
    layer = {"proj_conv": "downsample.0", "proj_bn": "downsample.1"}.get(parts[1], parts[1])
    return f"layer{int(stage) + 1}.{block}.{layer}"


def external_name(naming: str, collection: str, path: str) -> str:
    """The name of our leaf `collection`/`path` ("params" or "batch_stats", "<module>/<leaf>") in a file of
    `naming`: torchvision's ResNet or timm's ViT state_dict names, or our own path."""
    module, _, leaf = path.rpartition("/")
    if naming == "native":
        return f"{collection}/{path}"
    if naming == "timm" and not module:
        return leaf  # cls_token, pos_embed
    if naming == "timm":
        return (
            f"{module.replace('blocks_', 'blocks.').replace('/', '.')}.{LAYER_NORM_NAMES.get(leaf, 'weight')}"
        )
    return f"{torchvision_module(module)}.{BATCH_NORM_NAMES.get(leaf, 'weight')}"


def to_torch_layout(path: str, value: np.ndarray) -> np.ndarray:
    """Kernels in PyTorch's layout: conv (H, W, in, out) -> (out, in, H, W), dense (in, out) -> (out, in)."""
    if not path.endswith("kernel"):
        return value
    return np.ascontiguousarray(value.transpose(3, 2, 0, 1) if value.ndim == 4 else value.T)


def from_torch_layout(path: str, value: np.ndarray) -> np.ndarray:
    """The inverse of to_torch_layout."""
    if not path.endswith("kernel"):
        return value
    return np.ascontiguousarray(value.transpose(2, 3, 1, 0) if value.ndim == 4 else value.T)


def named_arrays(naming: str, backbone: dict, probe: dict, positions=None) -> dict:
    """The file's arrays: every backbone leaf under its external name (torchvision and timm in PyTorch's layout,
    torchvision's BatchNorms with num_batches_tracked), the probe as `fc` (torchvision), `head` (timm) or
    probe/* (native), and for timm the (1, L, D) position table the backbone adds (a constant for sin-cos
    positions, which timm holds as its learned pos_embed)."""
    arrays = {}
    for collection in ("params", "batch_stats"):
        for path, value in flat(backbone.get(collection, {}), "").items():
            path = path.strip("/")
            name = external_name(naming, collection, path)
            arrays[name] = value if naming == "native" else to_torch_layout(path, value)
            if naming == "torchvision" and collection == "batch_stats":
                arrays[name.rsplit(".", 1)[0] + ".num_batches_tracked"] = np.zeros((), np.int64)
    if naming == "native":
        return {**arrays, **flat(probe, "probe")}
    head = "fc" if naming == "torchvision" else "head"
    arrays[f"{head}.weight"] = to_torch_layout("kernel", np.asarray(probe["kernel"]))
    arrays[f"{head}.bias"] = np.asarray(probe["bias"])
    if naming == "timm":
        arrays["pos_embed"] = np.asarray(positions)
    return arrays


def timm_kwargs(vit, channels: int, classes: int) -> dict:
    """timm.models.vision_transformer.VisionTransformer(**these) is our ViT: cls token, positions added to it
    too, the final norm before the pooling (fc_norm off), exact GELU, LayerNorm eps 1e-6 (timm's)."""
    return {
        "img_size": vit.image_size,
        "patch_size": vit.patch_size,
        "in_chans": channels,
        "num_classes": classes,
        "embed_dim": vit.dim,
        "depth": vit.depth,
        "num_heads": vit.heads,
        "mlp_ratio": vit.mlp_ratio,
        "global_pool": "token" if vit.pool == "cls" else "avg",
        "fc_norm": False,
    }


def no_checkpoint_message(workdir: str) -> str:
    return f"{workdir} has no checkpoint to read a backbone from"


def newest_backbone(exp, workdir: str, weights: str) -> tuple:
    """(state, host {"params", "batch_stats"} of its backbone) of DIR's newest readable checkpoint: the online
    network's, or the EMA target's (weights="target"); ExportError when DIR has none (and DIR is left as it
    was: no empty checkpoint directory is created in it)."""
    try:
        state = checkpoint.restore_newest(
            workdir, identity=exp.identity, abstract_state=run_state.state_layout(exp)
        )
    except FileNotFoundError:
        raise ExportError(no_checkpoint_message(workdir)) from None
    params, batch_stats = evaluated_weights(state, weights)
    backbone = sharding.host_copy(
        {"params": params["backbone"], "batch_stats": batch_stats.get("backbone", {})}
    )
    return state, backbone


def export(
    config,
    workdir: str,
    *,
    format: str = "safetensors",
    naming: str = "torchvision",
    weights: str = "evaluated",
) -> str:
    """Writes the newest checkpoint's backbone and probe to DIR/export/ (process 0), each file whole or not at
    all, with the mode of the run directory's other files; returns the file's path. A DIR without checkpoints
    is refused first, then a request that cannot be honoured (check_request)."""
    if format not in FORMATS or naming not in NAMINGS or weights not in WEIGHTS:
        raise ExportError(
            f"choose --format from {FORMATS}, --naming from {NAMINGS}, --weights from {WEIGHTS}"
        )
    if not checkpoint.saved_steps(workdir):
        raise ExportError(no_checkpoint_message(workdir))
    exp = experiment_lib.prepare(config)
    weights = exp.method.eval_weights if weights == "evaluated" else weights
    check_request(config, naming, weights, exp.method.uses_target)
    state, backbone = newest_backbone(exp, workdir, weights)
    probe = sharding.host_copy(state.params["probe"])
    positions = None
    if naming == "timm":
        vit = exp.method.network.backbone
        positions = vit.apply({"params": backbone["params"]}, method=lambda module: module.pos_table)
    arrays = named_arrays(naming, backbone, probe, positions)
    metadata = {
        "method": config.method.name,
        "backbone": config.model.backbone,
        "stem": config.model.get("stem", ""),
        "width_multiplier": float(config.model.get("width_multiplier", 1.0)),
        "step": int(state.step),
        "weights": weights,
        "naming": naming,
        "dataset": exp.info.name,
        "image_size": exp.image_size,
        "classes": int(probe["bias"].shape[0]),
        "input": "images in [0, 1] (channels first in PyTorch), then (x - mean) / std per channel",
        "mean": list(exp.info.mean),
        "std": list(exp.info.std),
    }
    if naming == "timm":
        channels = exp.info.image_shape[-1]
        metadata["timm_kwargs"] = timm_kwargs(exp.method.network.backbone, channels, metadata["classes"])
    directory = os.path.join(workdir, files.EXPORT)
    path = files.free_path(directory, f"{naming}_step{int(state.step)}_{weights}", format, "json")
    if jax.process_index() == 0:
        os.makedirs(directory, exist_ok=True)
        with files.written_whole(path, "wb") as f:
            if format == "safetensors":
                text_metadata = {key: json.dumps(value) for key, value in metadata.items()}
                f.write(safetensors.numpy.save(arrays, metadata=text_metadata))
            else:
                np.savez(f, **arrays)
        with files.written_whole(path.rsplit(".", 1)[0] + ".json") as f:
            json.dump({**metadata, "file": os.path.basename(path), "arrays": len(arrays)}, f, indent=2)
    return path
