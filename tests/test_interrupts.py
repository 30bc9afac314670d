"""Runtime faults that stop a run: a write that fails (a full disk) and Ctrl-C stop it in one line, naming
where the same command resumes; Noisy Student's threshold refusal keeps no predictions; export's refusals in
order and its files' modes; a multi-process start without a cluster, and the line before waiting for one."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import orbax.checkpoint as ocp
import pytest
from absl import flags

from configs import noisy_student as noisy_student_config
from jaxssl import experiment, main, stop, teacher, train
from jaxssl.cli import distributed
from jaxssl.rundir import files, metrics, write_errors
from jaxssl.weights import export
from tests.helpers import (
    REPO,
    checkpoint_steps,
    read_metrics,
    saved_run,
    signalled_endless_run,
    tiny_config,
)

NO_SPACE = "No space left on device"


def test_a_full_disk_stops_the_run_in_one_line_naming_the_step_and_the_checkpoint_a_rerun_resumes(
    fashion_dir, tmp_path, monkeypatch
):
    workdir = str(tmp_path / "full")
    config = tiny_config("simclr", fashion_dir, steps=4)
    config.checkpoint.every_steps = 2
    save = ocp.CheckpointManager.save

    def disk_full_at_step_4(manager, step, *args, **kwargs):
        if step < 4:
            return save(manager, step, *args, **kwargs)
        os.makedirs(os.path.join(workdir, "checkpoints", "4.orbax-checkpoint-tmp", "state"))
        raise ValueError(f"RESOURCE_EXHAUSTED: Failed to write 23423 bytes: {NO_SPACE} [os_error_code='28']")

    monkeypatch.setattr(ocp.CheckpointManager, "save", disk_full_at_step_4)
    checkpoints = os.path.join(workdir, "checkpoints")
    with pytest.raises(write_errors.WriteFailedError) as failed:
        train.run(config, workdir)
    assert str(failed.value) == (
        f"could not write {checkpoints}/4 at step 4: {NO_SPACE} (the partial checkpoint was removed). The run "
        f"stopped; the same command resumes from the checkpoint at step 2 ({checkpoints}/2) once the write can "
        "succeed"
    )
    assert os.listdir(checkpoints) == ["2"]
    monkeypatch.setattr(ocp.CheckpointManager, "save", save)

    def still_full(directory):  # TensorFlow's event writer on a full disk
        raise metrics.tf.errors.ResourceExhaustedError(
            None, None, f"{directory}/events.out.tfevents; {NO_SPACE}\n\tFailed to flush 1 events"
        )

    with monkeypatch.context() as patched:
        patched.setattr(metrics.tf.summary, "create_file_writer", still_full)
        with pytest.raises(
            write_errors.WriteFailedError, match=f"tensorboard at step 2: {NO_SPACE}. The run"
        ):
            train.run(config, workdir)
    assert int(train.run(config, workdir).step) == 4  # with room again, it resumes and finishes
    assert checkpoint_steps(workdir) == [2, 4]


def test_ctrl_c_saves_the_current_step_writes_the_run_line_and_exits_130(fashion_dir, tmp_path):
    workdir = str(tmp_path / "interrupted")
    returncode, stderr = signalled_endless_run("simclr", fashion_dir, workdir, signal.SIGINT)
    assert returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    step = int(stderr.split("SIGINT: saved a checkpoint at step ")[1].split()[0])
    assert 3 <= step < 100000 and checkpoint_steps(workdir)[-1] == step
    run = read_metrics(workdir)[-1]
    assert run["split"] == "run" and run["step"] == step and run["start_step"] == 0


def test_after_a_first_ctrl_c_the_next_one_ends_the_process_and_an_ignored_sigint_stays_ignored():
    received = []  # by the handler outside the run (not KeyboardInterrupt, which would end pytest)
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    installed = signal.getsignal(signal.SIGINT)
    try:
        request = stop.StopRequest()
        os.kill(os.getpid(), signal.SIGINT)
        assert request.received == signal.SIGINT and not received
        assert signal.getsignal(signal.SIGINT) is signal.SIG_DFL  # a second Ctrl-C: the default action
        request.restore()
        assert signal.getsignal(signal.SIGINT) is installed
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a script's background job
        request = stop.StopRequest()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        request.restore()
    finally:
        signal.signal(signal.SIGINT, previous)


def test_a_student_below_the_threshold_names_the_option_and_the_best_confidence_and_keeps_nothing(
    fashion_dir, tmp_path, caplog
):
    teacher_dir, student_dir = str(tmp_path / "teacher"), str(tmp_path / "student")
    first = noisy_student_config.get_config("dataset=fashion_mnist,tiny=1")
    first.data.manual_dir = fashion_dir
    saved_run(first, teacher_dir)
    config = noisy_student_config.get_config(f"dataset=fashion_mnist,tiny=1,teacher={teacher_dir}")
    config.data.manual_dir = fashion_dir
    config.teacher.threshold = 0.99
    exp = experiment.prepare(config)
    refusal = r"config.teacher.threshold=0.99: the teacher's most confident prediction is 0\.\d{3}; lower"
    with pytest.raises(ValueError, match=refusal):
        teacher.with_pseudo_labels(exp, config, student_dir)
    assert not os.path.exists(os.path.join(student_dir, files.PSEUDO_LABELS))

    os.makedirs(student_dir)
    kept = os.path.join(student_dir, files.PSEUDO_LABELS)
    np.savez(kept, probabilities=np.full((64, 10), 0.1, np.float16), teacher=teacher_dir, teacher_step=1)
    with caplog.at_level("INFO"), pytest.raises(ValueError, match=f"kept in {kept} by an earlier start"):
        teacher.with_pseudo_labels(exp, config, student_dir)
    assert f"reusing the predictions of the teacher {teacher_dir} at step 1 kept in {kept}" in caplog.text


def test_an_export_says_no_checkpoint_first_names_a_vits_norm_and_writes_files_of_the_runs_mode(
    fashion_dir, tmp_path
):
    config = tiny_config("simclr", fashion_dir)
    workdir = str(tmp_path)
    with pytest.raises(export.ExportError, match="has no checkpoint"):  # before the torchvision refusal
        export.export(config, workdir)
    vit = tiny_config("simclr", fashion_dir, options="backbone=vit_micro")
    with pytest.raises(export.ExportError, match=r"vit_micro \(a ViT, layer norm\) has no torchvision"):
        export.check_request(vit, "torchvision", "online", method_uses_target=False)
    saved_run(config, workdir)
    with pytest.raises(export.ExportError, match=r"resnet_micro \(width x[\d.]+, batch norm\) has no torch"):
        export.export(config, workdir)
    mode = os.stat(os.path.join(workdir, files.CONFIG)).st_mode
    for format in export.FORMATS:
        path = export.export(config, workdir, format=format, naming="native")
        assert os.stat(path).st_mode == os.stat(path.rsplit(".", 1)[0] + ".json").st_mode == mode
        with open(path.rsplit(".", 1)[0] + ".json") as f:
            assert json.load(f)["file"] == os.path.basename(path)


def test_distributed_without_a_cluster_is_one_line(tmp_path):
    environment = {name: os.environ[name] for name in ("PATH", "HOME", "XLA_FLAGS") if name in os.environ}
    result = subprocess.run(
        [sys.executable, "-m", "jaxssl.main", "--distributed", "--mode=export", f"--workdir={tmp_path}"],
        cwd=REPO,
        env={**environment, "JAX_PLATFORMS": "cpu"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: --distributed found no cluster in the environment (SLURM, a Cloud TPU pod, Open MPI, ...): "
        "elsewhere pass --coordinator_address=HOST:PORT --num_processes=N --process_id=I"
    ]


def test_each_process_says_what_it_waits_for_before_joining_and_for_how_long(monkeypatch, caplog):
    joined = {}
    monkeypatch.setattr(distributed.jax.distributed, "initialize", lambda **options: joined.update(options))
    options = {"coordinator_address": "node0:1234", "num_processes": 2, "process_id": 1}
    with caplog.at_level("INFO"):
        distributed.start_distributed(options, timeout=30)
    assert (
        "process 1: waiting up to 30 s (--distributed_timeout) for 2 processes at node0:1234" in caplog.text
    )
    assert joined == {**options, "initialization_timeout": 30}


def test_ctrl_c_before_the_first_step_is_one_line_and_exit_status_130(monkeypatch, tmp_path, capsys):
    def interrupted_while_compiling(config, workdir):
        raise KeyboardInterrupt

    monkeypatch.setattr(train, "run", interrupted_while_compiling)
    config = os.path.join(REPO, "configs", "quickstart.py")
    flags.FLAGS(["main", f"--config={config}:method=simclr,tiny=1", f"--workdir={tmp_path / 'run'}"])
    try:
        status = main.main(["main"])
    finally:
        flags.FLAGS.unparse_flags()
    assert status == 128 + signal.SIGINT
    assert capsys.readouterr().err.splitlines() == [
        f"SIGINT before the first step: stopped; {main.SIGINT_BEFORE_THE_LOOP}"
    ]


@pytest.mark.parametrize("stopped, status", [(stop.Preempted, 0), (stop.Interrupted, 128 + signal.SIGINT)])
def test_a_stopped_evaluation_exits_as_a_stopped_training_does(monkeypatch, tmp_path, stopped, status):
    def stopped_while_fine_tuning(config, workdir, **request):
        raise stopped("saved the protocol's training at step 3 of 7")

    monkeypatch.setattr(main.runner, "evaluate", stopped_while_fine_tuning)
    config = os.path.join(REPO, "configs", "quickstart.py")
    flags.FLAGS(
        [
            "main",
            "--mode=evaluate",
            f"--config={config}:method=simclr,tiny=1",
            f"--workdir={tmp_path / 'run'}",
        ]
    )
    try:
        assert main.main(["main"]) == status
    finally:
        flags.FLAGS.unparse_flags()
