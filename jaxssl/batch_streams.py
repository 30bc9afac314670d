"""An experiment's host batch streams: this process's rows of the training steps, of the supervised protocols'
labelled steps, and of one pass over an evaluation split, each a pure function of the seed and the step."""

from jaxssl import sharding
from jaxssl.data import pipeline
from jaxssl.experiment import Experiment


def train_batches(experiment: Experiment, *, start_step: int, num_steps: int, prefetch: int = 2):
    """This process's host batches of steps start_step .. num_steps - 1 (per-view host crops when set)."""
    first_view = experiment.view_specs[0]
    return pipeline.as_numpy(
        pipeline.train_dataset(
            experiment.train_source,
            global_batch=experiment.global_batch,
            seed=experiment.seed,
            start_step=start_step,
            num_steps=num_steps,
            rows=sharding.process_rows(experiment.mesh, experiment.global_batch),
            host_crop=experiment.image_size if experiment.host_crop else None,
            crop_scales=tuple(spec.crop_scale for spec in experiment.view_specs),
            crop_ratio=first_view.crop_ratio,
            prefetch=prefetch,
            parts=experiment.parts,
            episodes=experiment.episodes,
        )
    )


def labelled_batches(
    experiment: Experiment, source, *, batch: int, start_step: int, num_steps: int, min_crop_scale: float
):
    """This process's host batches of steps start_step .. num_steps - 1 over the labelled `source` for the
    supervised protocols: one view per example, randomly cropped on the host for large images, ordered by the
    run's seed and the step."""
    return pipeline.as_numpy(
        pipeline.train_dataset(
            source,
            global_batch=batch,
            seed=experiment.seed,
            start_step=start_step,
            num_steps=num_steps,
            rows=sharding.process_rows(experiment.mesh, batch),
            host_crop=experiment.image_size if experiment.host_crop else None,
            crop_scales=((min_crop_scale, 1.0),),
        )
    )


def eval_batches(experiment: Experiment, source, batch_size: int):
    """This process's host batches of one pass over `source` in stored order (the eval crop for large images)."""
    return pipeline.as_numpy(
        pipeline.eval_dataset(
            source,
            batch_size=batch_size,
            rows=sharding.process_rows(experiment.mesh, batch_size),
            host_resize=experiment.image_size if experiment.host_crop else None,
        )
    )


def whole_batch(experiment: Experiment, source) -> dict:
    """Every example of a small `source` as one host batch, the same on every process (not a process's rows):
    what a figure draws, computed on each process's own device, drawn by process 0."""
    batches = pipeline.eval_dataset(
        source,
        batch_size=len(source.labels),
        host_resize=experiment.image_size if experiment.host_crop else None,
    )
    return next(iter(pipeline.as_numpy(batches)))
