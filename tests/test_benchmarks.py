"""The benchmark scripts run (at micro size, on CPU) so that they cannot rot; their numbers are not asserted."""

import json

from benchmarks import accelerator


def test_accelerator_benchmark_runs_every_case_at_micro_size(capsys):
    accelerator.main(["--size=micro", "--steps=1", "--jpegs=16"])
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [record["case"] for record in records] == list(accelerator.CASES)
    for record in records:
        assert record["dtype"] == "bfloat16" and record["devices"] == 8
        assert record["step_ms"] > 0 and record["source_images_per_s"] > 0
        assert record["xla_tflops_per_step_per_device"] > 0
        assert record["mfu"] is None  # no published peak for a CPU
    host_cropped = [record["case"] for record in records if "pipeline_images_per_s" in record]
    assert host_cropped == ["simclr_resnet50_224", "byol_resnet50_224", "mae_vitb16_224"]
    assert all(record["pipeline_images_per_s"] > 0 for record in records if record["case"] in host_cropped)


def test_peak_flops_are_matched_by_device_kind():
    assert accelerator.peak_tflops("NVIDIA H200") == accelerator.peak_tflops("NVIDIA H100 80GB HBM3") == 989.0
    assert accelerator.peak_tflops("TPU v5p") == 459.0 and accelerator.peak_tflops("TPU v5 lite") == 197.0
    assert accelerator.peak_tflops("cpu") is None
