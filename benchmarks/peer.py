"""The same training step in jaxssl and in PyTorch eager on the local CPU, timed step by step in turn.

  pip install -e ".[peer]"                  # PyTorch and lightly (the peer), beside jaxssl
  python -m benchmarks.peer                 # every case, 3 warm-up and 20 timed steps per side
  python -m benchmarks.peer --baseline      # and jaxssl without its CPU defaults (jaxssl/xla_cpu.py)
  python -m benchmarks.peer --cases=simclr_resnet10_28 --steps=10

Each case is one jaxssl config and its PyTorch twin (benchmarks/peer_torch.py): the same ResNet (CIFAR stem,
basic blocks, zero-initialised last BatchNorm of each block, input normalisation inside the network) and
heads, checked equal by parameter count, lightly's loss and LARS where lightly has them (MoCo v2 uses SGD, as
its config). jaxssl runs its real training step (on-device augmentation, the method's loss, the online probe,
the optimizer, the EMA target; the state donated), PyTorch a step on ready-made float views (no
augmentation: a favour to the peer). Every side is its own worker process (benchmarks/worker.py) and the
timed steps go round the sides one at a time, so all of them see the same machine: the ratios hold where a
shared machine's speed drifts by a quarter from minute to minute (measured here). One JSON line per case:
source images/s of each side (batch / step time), jaxssl over PyTorch eager, PyTorch with channels-last
tensors, the parameter count, XLA_FLAGS and the CPU's vector extensions.

What still differs: jaxssl's MoCo v2 normalises its encoders in 8 BatchNorm groups with shuffled keys
(shuffled BN, as the paper), the PyTorch twin in one BatchNorm; SwAV's twin never holds its prototypes
(jaxssl holds them for the first quarter epoch: a masked update, no work saved).
"""

import argparse
import dataclasses
import importlib.util
import json
import os
import platform

from benchmarks import worker

INSTALL_HINT = 'benchmarks/peer.py needs PyTorch and lightly: pip install -e ".[peer]"'


@dataclasses.dataclass(frozen=True)
class PeerCase:
    config: str
    overrides: dict  # "block.key" -> value, over the config


CASES = {
    "simclr_resnet10_28": PeerCase("configs/quickstart.py:method=simclr", {}),
    "simclr_resnet18_32": PeerCase(
        "configs/simclr.py:dataset=cifar10,backbone=resnet18,batch=256", {"model.width_multiplier": 0.25}
    ),
    "byol_resnet10_28": PeerCase("configs/quickstart.py:method=byol", {}),
    "moco_v2_resnet10_28": PeerCase("configs/quickstart.py:method=moco_v2", {}),
    "swav_multicrop_resnet10_28": PeerCase("configs/quickstart.py:method=swav", {"augment.num_small": 4}),
}


def jax_run(case: PeerCase, batch: int) -> dict:
    """The jaxssl side of a case, in a worker: its training step as a run of N steps, its parameter count and
    the spec its PyTorch twin is built from. JAX and jaxssl are imported here, in the worker, never in the
    coordinator: importing jaxssl sets XLA_FLAGS, which the coordinator's workers would inherit."""
    import jax
    import numpy as np

    from benchmarks.accelerator import host_batch
    from benchmarks.common import load_config, synthetic_data
    from jaxssl import experiment, run_state, sharding

    config = load_config(case.config)
    for path, value in case.overrides.items():
        block, key = path.split(".")
        config[block][key] = value
    config.train.batch_size = batch
    exp = experiment.prepare(config, data=synthetic_data(config.data.dataset))
    layout = run_state.state_layout(exp)
    state = run_state.create_state(exp, layout)
    images = sharding.to_global(host_batch(exp, np.random.default_rng(0)), exp.mesh)
    train_step = run_state.compile_train_step(exp, layout)

    def run(count: int) -> None:
        nonlocal state
        for _ in range(count):
            state, metrics = train_step(state, images)
        jax.block_until_ready((state, metrics))

    channels = exp.info.image_shape[-1]
    views = [(spec.size, spec.size, channels) for spec in exp.view_specs]
    torch_spec = {
        "method": config.method.to_dict(),
        "backbone": config.model.backbone,
        "width_multiplier": config.model.width_multiplier,
        "optim": config.optim.to_dict(),
        "batch": batch,
        "mean": list(exp.info.mean),
        "std": list(exp.info.std),
        "views": views,
    }
    params = sum(leaf.size for leaf in jax.tree.leaves(state.params["model"]))
    return {"run": run, "params": int(params), "torch_spec": torch_spec}


def cpu_vector_extensions() -> str:
    """'avx512' or 'avx2' (or the machine name) from /proc/cpuinfo: the kind of CPU the numbers belong to."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return platform.machine()
    return "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else platform.machine()


def measure(name: str, batch: int, steps: int, warmup: int, workers: dict) -> dict:
    """Builds the case on every worker, checks the parameter counts, then times the steps in turn."""
    jax_sides = [side for side in workers if side.startswith("jaxssl")]
    built = {side: workers[side].ask(build=f"{name}:{side}", case=name, batch=batch) for side in jax_sides}
    spec = built["jaxssl"]["torch_spec"]
    for side in ("torch_eager", "torch_channels_last"):
        built[side] = workers[side].ask(
            build=f"{name}:{side}", spec=spec, channels_last=side == "torch_channels_last"
        )
    counts = {side: answer["params"] for side, answer in built.items()}
    if len(set(counts.values())) != 1:
        raise AssertionError(f"{name}: the sides' parameter counts differ: {counts}")
    for side, process in workers.items():
        process.ask(run=f"{name}:{side}", steps=warmup)
    seconds = dict.fromkeys(workers, 0.0)
    for _ in range(steps):
        for side, process in workers.items():
            seconds[side] += process.ask(run=f"{name}:{side}", steps=1)["seconds"]
    rate = {side: steps * batch / total for side, total in seconds.items()}
    record = {
        "benchmark": "peer",
        "case": name,
        "config": CASES[name].config,
        "overrides": CASES[name].overrides,
        "batch": batch,
        "views": spec["views"],
        "params": counts["jaxssl"],
        "timed_steps": steps,
        **{f"{side}_images_per_s": round(value, 1) for side, value in rate.items()},
        "jaxssl_over_torch_eager": round(rate["jaxssl"] / rate["torch_eager"], 3),
        "torch": workers["torch_eager"].about["torch"],
        "torch_threads": workers["torch_eager"].about["threads"],
        "xla_flags": workers["jaxssl"].about["xla_flags"],
        "cpu": cpu_vector_extensions(),
        "cores": os.cpu_count(),
    }
    if "jaxssl_without_cpu_defaults" in rate:
        baseline = rate["jaxssl_without_cpu_defaults"]
        record["jaxssl_without_cpu_defaults_over_torch_eager"] = round(baseline / rate["torch_eager"], 3)
        record["cpu_defaults_speedup"] = round(rate["jaxssl"] / baseline, 3)
    return record


def start_workers(baseline: bool) -> dict:
    workers = {"jaxssl": worker.Worker("benchmarks.peer", "--serve")}
    if baseline:
        workers["jaxssl_without_cpu_defaults"] = worker.Worker(
            "benchmarks.peer", "--serve", env={"JAXSSL_XLA_CPU_DEFAULTS": "0"}
        )
    torch_worker = worker.Worker("benchmarks.peer_torch")
    workers.update(torch_eager=torch_worker, torch_channels_last=torch_worker)
    return workers


def serve() -> None:
    """The jaxssl worker: builds `jax_run` of the named case on request."""
    import jaxssl  # noqa: F401  (sets jaxssl's XLA CPU defaults before JAX starts)

    worker.serve(
        {"xla_flags": os.environ.get("XLA_FLAGS", "")},
        lambda request: jax_run(CASES[request["case"]], request["batch"]),
    )


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, from {list(CASES)}")
    parser.add_argument("--batch", type=int, default=256, help="source images per step")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per side")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per side first (compiles)")
    parser.add_argument(
        "--baseline", action="store_true", help="also time jaxssl without its XLA CPU defaults"
    )
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)  # the jaxssl worker
    args = parser.parse_args(argv)
    if args.serve:
        return serve()
    names = args.cases.split(",")
    unknown = sorted(set(names) - set(CASES))
    if unknown:
        parser.error(f"unknown cases {unknown}; choose from {list(CASES)}")
    if any(importlib.util.find_spec(package) is None for package in ("torch", "lightly")):
        raise SystemExit(INSTALL_HINT)
    workers = start_workers(args.baseline)
    try:
        for name in names:
            print(
                json.dumps(measure(name, args.batch, args.steps, args.warmup, workers), sort_keys=True),
                flush=True,
            )
    finally:
        for process in set(workers.values()):
            process.close()


if __name__ == "__main__":
    main()
