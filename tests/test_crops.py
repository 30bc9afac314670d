"""ContrastiveCrop: the box of a known heat map, the Beta-placed crops inside it, the refresh schedule, its
config errors, and one run with the policy on that trains, refreshes its boxes and resumes bit-exactly."""

import dataclasses
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import byol, quickstart, simclr
from jaxssl import augment, experiment, train
from jaxssl.augment import crops, spatial
from jaxssl.evaluation import runner
from tests.helpers import LAST_STEP_ONLY, executables_of_a_run
from tests.test_methods import assert_same_tree, read_lines


def test_the_box_bounds_the_pixels_above_the_threshold():
    heat = np.zeros((16, 20), np.float32)
    heat[3:7, 2:10] = 0.5
    heat[5, 4] = 1.0
    box = np.asarray(crops.box_of(jnp.asarray(heat), threshold=0.1))
    np.testing.assert_allclose(box, [3 / 16, 2 / 20, 7 / 16, 10 / 20])
    np.testing.assert_allclose(
        crops.box_of(jnp.asarray(heat), threshold=0.9), [5 / 16, 4 / 20, 6 / 16, 5 / 20]
    )
    np.testing.assert_array_equal(crops.box_of(jnp.zeros((8, 8)), 0.1), crops.WHOLE_IMAGE)


def test_the_heat_map_is_the_normalised_upsampled_channel_sum():
    feature_map = np.zeros((4, 4, 3), np.float32)
    feature_map[1, 2] = [1.0, 2.0, 3.0]  # one hot cell of the 4 x 4 grid
    heat = np.asarray(crops.heat_map(jnp.asarray(feature_map), 16, 16))
    assert heat.shape == (16, 16) and heat.min() == 0.0 and heat.max() == pytest.approx(1.0)
    # Bilinear upsampling spreads the cell (rows 4-7, columns 8-11) half a cell around it, no further.
    top, left, bottom, right = np.asarray(crops.box_of(jnp.asarray(heat), 0.1)) * 16
    assert 2 <= top <= 4 and 6 <= left <= 8 and 8 <= bottom <= 10 and 12 <= right <= 14
    np.testing.assert_array_equal(crops.heat_map(jnp.ones((2, 2, 5)), 8, 8), np.zeros((8, 8)))


def draw_boxes(bounds, count=4000, size=32, scale=(0.2, 0.2)):
    keys = jax.random.split(jax.random.key(0), count)
    return np.asarray(
        jax.vmap(lambda k: spatial.sample_crop_box(k, size, size, scale, (1.0, 1.0), bounds=bounds))(keys)
    )


def test_crop_centres_fall_in_the_box_and_beta_below_one_pushes_them_to_its_edges():
    box = jnp.asarray([0.25, 0.5, 0.75, 1.0])  # rows 8-24 and columns 16-32 of a 32 px image
    drawn = draw_boxes((box, jnp.float32(0.1)))
    top, left, side = drawn[:, 0], drawn[:, 1], drawn[:, 2]
    centre_y, centre_x = top + side / 2, left + side / 2
    assert np.all((centre_y >= 8 - 1e-4) & (centre_y <= 24 + 1e-4))
    # The crop (side ~14.3 px) stays inside the image, so centres on the right edge are held at 32 - side / 2.
    assert np.all(left + side <= 32 + 1e-4) and np.all(centre_x >= 16 - 1e-4)
    uniform = draw_boxes((box, jnp.float32(1.0)))
    uniform_y = uniform[:, 0] + uniform[:, 2] / 2
    near_edges = [
        np.mean((y < 10) | (y > 22)) for y in (centre_y, uniform_y)
    ]  # the outer quarter of the rows
    assert near_edges[0] > 0.7 and near_edges[1] < 0.35


def test_the_whole_image_with_alpha_one_is_random_resized_crop():
    whole = draw_boxes((jnp.asarray(crops.WHOLE_IMAGE), jnp.float32(1.0)))
    plain = draw_boxes(None)
    np.testing.assert_allclose(whole[:, 2:], plain[:, 2:])  # the same sizes from the same keys
    for axis in (0, 1):  # starts uniform on [0, 32 - side] in both
        assert abs(whole[:, axis].mean() - plain[:, axis].mean()) < 0.4
        assert abs(whole[:, axis].std() - plain[:, axis].std()) < 0.4


def test_boxes_are_located_in_the_epoch_before_each_refresh_and_swapped_at_its_start():
    # 8 examples, 4 per step: 2 steps per epoch; first boxes at epoch 2 (step 4), a refresh every 2 epochs.
    policy = crops.ContrastiveCrop(num_examples=8, global_batch=4, warmup_epochs=2, every_epochs=2, alpha=0.6)
    hot = np.zeros((4, 4, 4, 2), np.float32)
    hot[:, 0, 0] = 1.0  # every image's heat in its top-left cell
    state, located_at, swapped_at = policy.init(), [], []
    for step in range(10):
        indices = jnp.arange(4) + 4 * (step % 2)
        before = state
        state = policy.update(state, step, indices, lambda: jnp.asarray(hot), 16)
        if not np.array_equal(state["pending"], before["pending"]):
            located_at.append(step)
        if not np.array_equal(state["boxes"], before["boxes"]) or state["located"] != before["located"]:
            swapped_at.append(step)
    assert located_at == [2, 3]  # epoch 1; epoch 3's boxes equal epoch 1's, so nothing changes at 6, 7
    assert swapped_at == [4]
    assert int(state["located"]) == 1 and np.all(np.asarray(state["boxes"])[:, :2] == 0.0)
    assert np.all(np.asarray(state["boxes"])[:, 2:] < 0.5)
    boxes, alpha = policy.bounds(state, jnp.asarray([0, 5]))
    assert boxes.shape == (2, 4) and float(alpha) == pytest.approx(0.6)
    assert float(policy.bounds(policy.init(), jnp.asarray([0]))[1]) == 1.0  # before: RandomResizedCrop


def test_a_batch_that_straddles_epochs_is_located_with_the_epoch_it_ends():
    # 6 examples, 4 per step: step 1 holds rows 4, 5 of epoch 0 and rows 0, 1 of epoch 1.
    policy = crops.ContrastiveCrop(num_examples=6, global_batch=4, warmup_epochs=2, every_epochs=1)
    collects = [
        bool(
            policy.refreshes_at(policy.epoch_of_row(step, 0) + 1)
            | policy.refreshes_at(policy.epoch_of_row(step, 3) + 1)
        )
        for step in range(4)
    ]
    # Epoch 1 spans steps 1-2; step 3 starts epoch 2 (a refresh), whose rows are located for epoch 3's.
    assert collects == [False, True, True, True]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(warmup_epochs=0, every_epochs=1), "warmup_epochs >= 1"),
        (dict(warmup_epochs=1, every_epochs=1, threshold=1.5), "threshold"),
        (dict(warmup_epochs=1, every_epochs=1, alpha=0.0), "alpha"),
    ],
)
def test_the_policy_refuses_what_it_cannot_schedule(kwargs, message):
    with pytest.raises(ValueError, match=message):
        crops.ContrastiveCrop(num_examples=8, global_batch=4, **kwargs)


def test_configs_take_the_crop_option_with_the_papers_settings():
    config = simclr.get_config("dataset=cifar10,epochs=500,crop=contrastive")
    assert dict(config.crop) == dict(
        policy="contrastive", warmup_epochs=100, every_epochs=100, threshold=0.1, alpha=0.1
    )
    assert "crop" not in simclr.get_config("dataset=cifar10")  # every earlier run's config, unchanged
    assert quickstart.get_config("method=byol,crop=contrastive").crop.every_epochs == 1
    with pytest.raises(ValueError, match="unknown crop 'center'"):
        byol.get_config("crop=center")
    # The policy is part of a run's identity (its state is), and absent from every earlier run's.
    plain, contrastive = (
        experiment.identity_of(simclr.get_config(f"crop={crop}")) for crop in ("random", "contrastive")
    )
    assert "crop" not in plain and contrastive == {**plain, "crop": "contrastive"}


def test_a_host_cropped_dataset_or_a_view_without_a_crop_is_refused_before_anything_runs(fashion_dir):
    config = simclr.get_config("dataset=imagenet2012,crop=contrastive")
    with pytest.raises(ValueError, match="cropped on the host"):
        experiment.prepare(config)
    plain = simclr.get_config("dataset=fashion_mnist,tiny=1,crop=contrastive")
    specs = tuple(dataclasses.replace(spec, random_crop=False) for spec in augment.simclr_views(16))
    with pytest.raises(ValueError, match="have none"):
        experiment.crop_policy_of(plain, specs, num_examples=64, global_batch=16)
    with plain.unlocked():
        plain.crop.radius = 3
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['radius'\] in config.crop"):
        experiment.prepare(plain)


def test_a_run_with_contrastive_crops_refreshes_its_boxes_and_resumes_exactly(fashion_dir, tmp_path):
    # 64 examples, batch 16: 4 steps per epoch; boxes located in epoch 0, used from step 4, refreshed at 8.
    config = simclr.get_config("dataset=fashion_mnist,tiny=1,crop=contrastive")
    config.data.manual_dir = fashion_dir
    config.train.steps = 10
    config.checkpoint.every_steps = 6
    config.eval.every_steps = LAST_STEP_ONLY
    uninterrupted, resumed = str(tmp_path / "a"), str(tmp_path / "b")
    final = train.run(config, uninterrupted)
    crop = jax.device_get(final.crop)
    assert int(crop["located"]) == 1
    assert np.all(
        (crop["boxes"][:, :2] >= 0)
        & (crop["boxes"][:, 2:] <= 1)
        & (crop["boxes"][:, 2:] > crop["boxes"][:, :2])
    )
    os.makedirs(os.path.join(resumed, "checkpoints"))
    shutil.copytree(
        os.path.join(uninterrupted, "checkpoints", "6"), os.path.join(resumed, "checkpoints", "6")
    )
    again = train.run(config, resumed)
    assert [(line["start_step"], line["step"]) for line in read_lines(resumed) if line["split"] == "run"] == [
        (6, 10)
    ]
    assert_same_tree(again.params, final.params)
    assert_same_tree(again.crop, final.crop)
    assert executables_of_a_run(experiment.prepare(config), num_steps=10) == 1
    (record,) = runner.evaluate(config, uninterrupted, protocols=("crops",))
    assert os.path.exists(record["png"]) and record["boxes_located"]
    areas = (crop["boxes"][:, 2] - crop["boxes"][:, 0]) * (crop["boxes"][:, 3] - crop["boxes"][:, 1])
    assert record["mean_box_area"] == pytest.approx(float(np.mean(areas)))
    assert record["whole_image_boxes"] == pytest.approx(float(np.mean(areas > 0.99)))


def test_the_crops_figure_needs_a_run_with_boxes(fashion_dir, tmp_path):
    config = simclr.get_config("dataset=fashion_mnist,tiny=1")
    config.data.manual_dir = fashion_dir
    with pytest.raises(ValueError, match="crops protocol draws ContrastiveCrop's boxes; this run has none"):
        runner.evaluate(config, str(tmp_path), protocols=("crops",))
