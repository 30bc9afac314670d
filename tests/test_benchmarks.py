"""The benchmark scripts run (at micro size, on CPU) so that they cannot rot; their numbers are not asserted."""

import json

import jax
import pytest

from benchmarks import accelerator, compile_time, host_memory, peer, state_memory
from benchmarks.common import load_config, synthetic_data
from jaxssl import experiment, run_state

# Two cases run, one of each input path: ImageNet-sized crops made on the host (the pipeline's images/s timed
# too) and stored images cropped on the device. The SimCLR and BYOL cases' two-view step runs in bfloat16 in
# tests/test_train.py (BYOL's); every case's experiment is built at micro size.
RUN_CASES = ["mae_vitb16_224", "fixmatch_wrn28_2_cifar"]


def test_accelerator_benchmark_runs_one_case_of_each_input_path_at_micro_size(capsys):
    accelerator.main(["--size=micro", "--steps=1", "--jpegs=16", f"--cases={','.join(RUN_CASES)}"])
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [record["case"] for record in records] == RUN_CASES
    for record in records:
        assert record["dtype"] == "bfloat16" and record["devices"] == 8
        assert record["step_ms"] > 0 and record["source_images_per_s"] > 0
        assert record["xla_tflops_per_step_per_device"] > 0
        assert record["mfu"] is None  # no published peak for a CPU
    host_cropped = [record["case"] for record in records if "pipeline_images_per_s" in record]
    assert host_cropped == ["mae_vitb16_224"] and records[0]["pipeline_images_per_s"] > 0


@pytest.mark.parametrize("name", sorted(accelerator.CASES))
def test_every_accelerator_case_builds_its_experiment_at_micro_size(name):
    case = accelerator.CASES[name]
    config = load_config(case.config + ",tiny=1")
    exp = experiment.prepare(config, data=synthetic_data(config.data.dataset))
    layout = run_state.state_layout(exp)
    assert jax.tree.leaves(layout.params) and exp.host_crop == ("imagenet2012" in case.config)


def test_peak_flops_are_matched_by_device_kind():
    assert accelerator.peak_tflops("NVIDIA H200") == accelerator.peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert accelerator.peak_tflops("TPU v5p") == 459.0 and accelerator.peak_tflops("TPU v5 lite") == 197.0
    assert accelerator.peak_tflops("cpu") is None


def test_state_memory_benchmark_splits_the_memories_where_the_devices_divide_them(capsys):
    state_memory.main(["--dataset=cifar10", "--devices=1,8", "--methods=moco_v2,instdisc"])
    records = {
        (record["config"].split("/")[1].split(".")[0], record["devices"]): record
        for record in map(json.loads, capsys.readouterr().out.splitlines())
    }
    for method in ("moco_v2", "instdisc"):  # CIFAR-10's 50,000-row bank and the 32,768-row queue split by 8
        one, eight = records[(method, 1)], records[(method, 8)]
        assert eight["memories_mb_per_device"] == pytest.approx(one["memories_mb_per_device"] / 8, abs=0.1)
        assert eight["state_mb_per_device"] < one["state_mb_per_device"]


def test_peer_benchmark_without_pytorch_says_how_to_install_it_and_exits(monkeypatch):
    monkeypatch.setattr(peer.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SystemExit, match=r'pip install -e "\.\[peer\]"'):
        peer.main(["--cases=simclr_resnet10_28"])


def test_peer_benchmark_refuses_an_unknown_case():
    with pytest.raises(SystemExit):
        peer.main(["--cases=simclr_resnet10_28,alexnet"])


def test_compile_time_benchmark_runs_and_leaves_the_compilation_cache_on(capsys):
    compile_time.main(["--methods=simclr", "--sizes=tiny"])
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (record["method"], record["size"], record["backbone"]) == ("simclr", "tiny", "resnet_micro")
    assert record["compile_s"] > 0 and record["trace_and_lower_s"] > 0
    assert jax.config.jax_enable_compilation_cache


def test_host_memory_benchmark_measures_a_step_and_names_each_malloc_setting():
    measured = host_memory.measure("resnet_micro", batch=4, width=1.0, patch_size=4, repeats=1)
    assert measured["seconds_per_step"] > 0 and measured["peak_memory_gib"] > 0
    assert measured["page_faults_per_step"] >= 0 and len(measured["gradients"]) == 64
    settings = host_memory.settings()
    assert settings["glibc"] == {} and settings["glibc_hugetlb"] == {
        "GLIBC_TUNABLES": "glibc.malloc.hugetlb=1"
    }
    assert "glibc.malloc.mmap_max=0" in settings["glibc_kept"]["GLIBC_TUNABLES"]
