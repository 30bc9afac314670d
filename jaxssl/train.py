"""run(config, workdir): pretraining with periodic metrics, online evaluation and checkpoints."""

import contextlib
import logging
import os
import signal
import time

import jax
import tqdm

from jaxssl import batch_streams, finite, run_state, sharding, stop, teacher
from jaxssl import experiment as experiment_lib
from jaxssl import step as step_lib
from jaxssl.data import sources, subsets
from jaxssl.evaluation import online
from jaxssl.models.network import has_classifier
from jaxssl.probes import embed
from jaxssl.rundir import checkpoint, files, lock, write_errors
from jaxssl.rundir import metrics as metrics_lib
from jaxssl.weights import load


def write_config(config, workdir: str) -> None:
    """DIR/config.json holds the resolved config; a different earlier one is kept as config.<n>.json."""
    path = os.path.join(workdir, files.CONFIG)
    text = config.to_json_best_effort(indent=2, sort_keys=True)
    if os.path.exists(path):
        with open(path) as f:
            previous = f.read()
        if previous == text:
            return
        os.rename(path, files.earlier_config_path(workdir))
    with files.written_whole(path) as f:
        f.write(text)


def write_skipped_files(source, workdir: str) -> None:
    """DIR/skipped_files.txt lists the image folder's files this run leaves out (config.data.skip_bad_files),
    one 'path: why' per line; absent when none are."""
    skipped = getattr(source, "skipped", ())
    if skipped:
        logging.warning("training without %d unreadable files, listed in skipped_files.txt", len(skipped))
        with files.written_whole(os.path.join(workdir, files.SKIPPED_FILES)) as f:
            f.write("".join(line + "\n" for line in skipped))


def write_run_line(writer, start_step: int, end_step: int, global_batch: int, seconds: float) -> None:
    if end_step > start_step:
        writer.write(
            end_step,
            "run",
            {
                "start_step": start_step,
                "seconds": seconds,
                "examples_per_s": (end_step - start_step) * global_batch / seconds,
            },
        )


@contextlib.contextmanager
def one_writer(workdir: str):
    """Process 0 holds DIR's lock for the body (the workdir is shared on a pod); on a pod every process learns,
    in one broadcast, whether it got it, so a busy directory stops them all at once."""
    with contextlib.ExitStack() as held:
        refusal = None
        if jax.process_index() == 0:
            try:
                held.enter_context(lock.hold(workdir))
            except lock.WorkdirBusyError as error:
                refusal = error
        busy = refusal is not None
        busy = sharding.any_process(busy)
        if busy:
            raise refusal or lock.WorkdirBusyError(
                f"{workdir} is in use by another run (process 0 found it locked)"
            )
        yield


def initial_backbone_of(config, layout) -> dict | None:
    """The backbone a fresh run starts from: config.init.weights (a file) or config.init.workdir (another
    run's newest checkpoint), at most one of them; None for the random initialisation."""
    weights, run_dir = config.get("init", {}).get("weights"), config.get("init", {}).get("workdir")
    if weights:
        return load.backbone_from_file(weights, layout)
    if run_dir:
        return load.backbone_from_run(run_dir, layout)
    return None


def run(config, workdir: str):
    """Trains config's method until config's duration, resuming from DIR's newest readable checkpoint.

    Each call that trains appends a "run" line to metrics.jsonl: the steps it ran, its wall time (loading and
    compiling included) and the examples per second over that time. One run at a time may train in DIR
    (jaxssl/rundir/lock.py). SIGTERM and SIGINT save the current step and stop (stop.StopRequest; stop.Interrupted
    after SIGINT); a write into DIR that fails stops the run with a write_errors.WriteFailedError."""
    started = time.time()
    exp = experiment_lib.prepare(config)
    teacher.check_teacher(exp, config, workdir)
    layout = run_state.state_layout(exp)
    initial_backbone = checked_start(exp, config, workdir, layout)
    with contextlib.ExitStack() as held:
        newest = (checkpoint.saved_steps(workdir) or [None])[-1]
        with write_errors.writing(workdir, files.LOCK, newest or 0, newest):  # a full disk refuses its text
            held.enter_context(one_writer(workdir))
        return train_with_lock_held(exp, config, workdir, started, layout, initial_backbone)


def checked_start(exp, config, workdir: str, layout) -> dict | None:
    """What refuses this run in DIR or config.init, found before DIR's lock is taken or anything is created:
    checkpoints of another run (WorkdirConflictError) or, for a fresh run, a starting backbone that does not
    fit (initial_backbone_of). Returns that backbone: None for the random initialisation or a resumed run."""
    if not checkpoint.saved_steps(workdir):
        return initial_backbone_of(config, layout)
    existing = checkpoint.Checkpointer(workdir, keep=None, identity=exp.identity)
    try:
        existing.check_identity()
    finally:
        existing.close()
    return None


def train_with_lock_held(exp, config, workdir: str, started: float, layout, initial_backbone):
    """The body of `run`, with DIR's lock held, from checked_start's `initial_backbone`."""
    checkpointer = checkpoint.Checkpointer(workdir, keep=config.checkpoint.keep, identity=exp.identity)
    state = checkpointer.restore_latest(layout)  # before any write: a checkpoint that does not fit stops here
    if state is None and initial_backbone is None:  # every checkpoint was unreadable: a fresh run after all
        initial_backbone = initial_backbone_of(config, layout)
    start_step = 0 if state is None else int(state.step)
    last_saved = start_step if start_step else None
    exp = teacher.with_pseudo_labels(exp, config, workdir)  # Noisy Student's students only
    is_main = jax.process_index() == 0
    with write_errors.writing(workdir, files.CONFIG, start_step, last_saved):
        if is_main:
            write_config(config, workdir)
            write_skipped_files(exp.train_source, workdir)
        writer = metrics_lib.MetricWriter(workdir, enabled=is_main)

    if state is None:
        state = run_state.create_state(exp, layout)
        if initial_backbone is not None:
            state = load.with_backbone(state, initial_backbone, layout)
            logging.info("backbone initialised from %s", config.init.weights or config.init.workdir)
    logging.info(
        "%s on %s: steps %d..%d, global batch %d, %d devices",
        exp.method.name,
        exp.info.name,
        start_step,
        exp.total_steps,
        exp.global_batch,
        exp.mesh.devices.size,
    )
    logging.info(
        "state: %(mb_per_device).1f MB per device of %(mb).1f MB, %(split_arrays)d arrays split over the devices",
        run_state.layout_summary(layout),
    )

    train_step = run_state.compile_train_step(exp, layout)
    compiled = {
        "embed": embed.compile_embed(
            step_lib.make_embed_fn(
                exp.method.network, exp.image_size, with_logits=has_classifier(exp.method.network)
            ),
            exp.mesh,
        ),
        "pairs": embed.compile_embed(
            step_lib.make_pair_embed_fn(exp.method.network, exp.view_specs), exp.mesh
        ),
    }
    bank_source = sources.subset(
        exp.whole_train_source, num_examples=config.eval.bank_examples, seed=exp.seed
    )
    health_source = subsets.first(exp.eval_source, config.eval.health_examples)
    batches = batch_streams.train_batches(
        exp, start_step=start_step, num_steps=exp.total_steps, prefetch=config.data.prefetch
    )

    stop_request = stop.StopRequest()
    interrupted = False
    in_flight = stop.StepsInFlight()
    pending = []
    progress = tqdm.tqdm(
        total=exp.total_steps, initial=start_step, disable=not is_main, unit="step", dynamic_ncols=True
    )
    try:
        for step in range(start_step, exp.total_steps):
            state, step_metrics = train_step(state, sharding.to_global(next(batches), exp.mesh))
            pending.append((step + 1, step_metrics))
            in_flight.add(step_metrics["loss"])
            done = step + 1
            finished = done == exp.total_steps
            # Alone, a process stops at the step after the signal; on a pod they agree at the next log step.
            agree_now = jax.process_count() == 1 or done % config.log_every_steps == 0 or finished
            stopping = agree_now and sharding.any_process(stop_request.requested)
            save_now = done % config.checkpoint.every_steps == 0 or finished or stopping
            eval_now = done % config.eval.every_steps == 0 or finished
            if done % config.log_every_steps == 0 or save_now or eval_now:
                host_metrics = [(s, jax.device_get(m)) for s, m in pending]
                pending = []
                finite.check_finite(host_metrics, last_saved)
                summary = metrics_lib.mean_over_steps([m for _, m in host_metrics])
                with write_errors.writing(workdir, files.METRICS, done, last_saved):
                    writer.write(done, "train", summary)
                progress.set_postfix(loss=f"{summary['loss']:.4f}", refresh=False)
            if eval_now:
                online_metrics = online.online_eval(
                    exp, compiled, state, bank_source, health_source, config.eval, config.get("fewshot")
                )
                with write_errors.writing(workdir, files.METRICS, done, last_saved):
                    writer.write(done, "eval", online_metrics)
            if save_now:
                finite.check_state_finite(state, done, last_saved)
                with write_errors.writing(workdir, files.CHECKPOINTS, done, last_saved):
                    checkpointer.save(done, state, force=True)
                last_saved = done
            progress.update(1)
            if stopping:
                interrupted = sharding.any_process(stop_request.received == signal.SIGINT)
                progress.close()  # the line below on a line of its own
                logging.warning(
                    "%s: saved a checkpoint at step %d and stopped",
                    "SIGINT" if interrupted else "SIGTERM",
                    done,
                )
                break
        with write_errors.writing(workdir, files.METRICS, int(state.step), last_saved):
            write_run_line(writer, start_step, int(state.step), exp.global_batch, time.time() - started)
    finally:
        progress.close()
        stop_request.restore()
        checkpointer.close()
    if interrupted:
        raise stop.Interrupted(f"stopped by SIGINT after saving a checkpoint at step {int(state.step)}")
    return state
