"""The PyTorch twins of benchmarks/peer.py's jaxssl steps: the same networks written with torch.nn, lightly's
losses and LARS, eager training steps on fixed random views.

benchmarks/peer.py runs this module as a worker process (benchmarks/worker.py), so that torch is never loaded
after TensorFlow (triton, which PyPI's torch brings, crashes then) and its threads never compete with JAX's. A
build request carries the jaxssl side's `torch_spec` (method, backbone, optimizer, batch, input statistics,
view shapes) and the memory layout to use.
"""

import copy

import torch
import torch.nn.functional as F
from lightly.loss import NegativeCosineSimilarity, NTXentLoss, SwaVLoss
from lightly.models.utils import update_momentum
from lightly.utils.lars import LARS
from torch import nn

from benchmarks import worker

STAGES = {"resnet10": (1, 1, 1, 1), "resnet18": (2, 2, 2, 2)}


class BasicBlock(nn.Module):
    """jaxssl.models.resnet.BasicBlock: conv-BN-ReLU-conv-BN (its scale at zero) plus the shortcut."""

    def __init__(self, in_channels: int, channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        nn.init.zeros_(self.bn2.weight)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(y)) + self.shortcut(x))


def resnet(name: str, width: int, channels: int) -> nn.Sequential:
    """The CIFAR-stem ResNet of jaxssl.models.resnet, pooled features out."""
    layers = [nn.Conv2d(channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU()]
    in_channels = width
    for stage, blocks in enumerate(STAGES[name]):
        for index in range(blocks):
            stride = 2 if stage > 0 and index == 0 else 1
            layers.append(BasicBlock(in_channels, width * 2**stage, stride))
            in_channels = width * 2**stage
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())


def mlp(in_dim: int, hidden_dims, out_dim: int, use_bn: bool = True) -> nn.Sequential:
    """jaxssl.models.heads.MLP: Linear -> BN -> ReLU per hidden layer, then Linear."""
    layers = []
    for hidden in hidden_dims:
        layers += [nn.Linear(in_dim, hidden), *([nn.BatchNorm1d(hidden)] if use_bn else []), nn.ReLU()]
        in_dim = hidden
    return nn.Sequential(*layers, nn.Linear(in_dim, out_dim))


class Network(nn.Module):
    """Input normalisation, backbone, projector (and predictor, prototypes where the method has them)."""

    def __init__(self, spec: dict, use_bn: bool = True):
        super().__init__()
        method = spec["method"]
        width = max(1, round(64 * spec["width_multiplier"]))
        channels = spec["views"][0][-1]
        self.register_buffer("mean", torch.tensor(spec["mean"]).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(spec["std"]).view(1, -1, 1, 1))
        self.backbone = resnet(spec["backbone"], width, channels)
        features = width * 2 ** (len(STAGES[spec["backbone"]]) - 1)
        self.projector = mlp(features, method["projector_hidden_dims"], method["projection_dim"], use_bn)
        self.predictor = None
        if "predictor_hidden_dims" in method:
            self.predictor = mlp(
                method["projection_dim"], method["predictor_hidden_dims"], method["projection_dim"]
            )
        self.prototypes = None
        if "num_prototypes" in method:
            self.prototypes = nn.Linear(method["projection_dim"], method["num_prototypes"], bias=False)

    def forward(self, x):
        return self.projector(self.backbone((x - self.mean) / self.std))


def learning_rate(spec: dict) -> float:
    return spec["optim"]["base_lr"] * spec["batch"] / 256


def lars(spec: dict, params):
    optim = spec["optim"]
    return LARS(
        params,
        lr=learning_rate(spec),
        momentum=optim["momentum"],
        weight_decay=optim["weight_decay"],
        trust_coefficient=optim["trust_coefficient"],
    )


def simclr_step(net, views, spec: dict):
    criterion = NTXentLoss(temperature=spec["method"]["temperature"])
    optimizer = lars(spec, net.parameters())

    def step():
        z0, z1 = net(torch.cat(views[:2])).chunk(2)  # one batch, as jaxssl's SimCLR
        return optimizer, criterion(z0, z1)

    return step, None


def byol_step(net, views, spec: dict):
    target = copy.deepcopy(net).requires_grad_(False)
    criterion = NegativeCosineSimilarity()
    optimizer = lars(spec, net.parameters())

    def step():
        p0, p1 = (net.predictor(net(view)) for view in views[:2])  # each view its own batch, as jaxssl's BYOL
        with torch.no_grad():
            z0, z1 = (target(view) for view in views[:2])
        loss = 0.5 * (criterion(p0, z1) + criterion(p1, z0))
        return optimizer, loss

    def after(_):
        update_momentum(net, target, m=spec["method"]["base_tau"])

    return step, after


def moco_v2_step(net, views, spec: dict):
    key_encoder = copy.deepcopy(net).requires_grad_(False)
    method = spec["method"]
    queue = (method["queue_size"], method["projection_dim"])
    criterion = NTXentLoss(temperature=method["temperature"], memory_bank_size=queue)
    optim = spec["optim"]
    optimizer = torch.optim.SGD(
        net.parameters(),
        lr=learning_rate(spec),
        momentum=optim["momentum"],
        weight_decay=optim["weight_decay"],
    )

    def step():
        q0, q1 = (net(view) for view in views[:2])
        with torch.no_grad():
            k0, k1 = (key_encoder(view) for view in views[:2])
        return optimizer, criterion(q0, k1) + criterion(q1, k0)  # symmetric, as the quickstart's MoCo v2

    def after(_):
        update_momentum(net, key_encoder, m=spec["method"]["momentum"])

    return step, after


def swav_step(net, views, spec: dict):
    method = spec["method"]
    criterion = SwaVLoss(
        temperature=method["temperature"],
        sinkhorn_iterations=method["sinkhorn_iterations"],
        sinkhorn_epsilon=method["epsilon"],
    )
    optimizer = lars(spec, net.parameters())
    by_size = {}
    for view in views:  # views of one size go through the network as one batch, as in jaxssl
        by_size.setdefault(view.shape[-1], []).append(view)

    def step():
        scores = []
        for group in by_size.values():
            z = F.normalize(net(torch.cat(group)), dim=1)
            scores += list(net.prototypes(z).chunk(len(group)))
        return optimizer, criterion(high_resolution_outputs=scores[:2], low_resolution_outputs=scores[2:])

    def after(_):
        with torch.no_grad():
            net.prototypes.weight.copy_(F.normalize(net.prototypes.weight, dim=1))

    return step, after


METHOD_STEPS = {"simclr": simclr_step, "byol": byol_step, "moco_v2": moco_v2_step, "swav": swav_step}


def make_step(spec: dict, channels_last: bool):
    """run(count): `count` training steps of the method's PyTorch twin on fixed random views; run.num_params
    is its trainable parameter count (the online network only)."""
    torch.manual_seed(0)
    name = spec["method"]["name"]
    net = Network(spec, use_bn=name != "moco_v2")
    views = [torch.rand(spec["batch"], channels, size, size) for size, _, channels in spec["views"]]
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        views = [view.contiguous(memory_format=torch.channels_last) for view in views]
    step, after = METHOD_STEPS[name](net, views, spec)

    def run(count: int):
        for _ in range(count):
            optimizer, loss = step()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if after is not None:
                after(net)

    run.num_params = sum(p.numel() for p in net.parameters())
    return run


def build(request: dict) -> dict:
    run = make_step(request["spec"], request["channels_last"])
    return {"run": run, "params": run.num_params}


if __name__ == "__main__":
    worker.serve({"torch": torch.__version__, "threads": torch.get_num_threads()}, build)
