"""Every method end to end through train.run (tiny configs), resume, and the state each one keeps."""

import dataclasses
import json
import os
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import PartitionSpec as P

from jaxssl import augment, experiment, finite, losses, masking, models, optim, run_state, sharding, train
from jaxssl.methods import METHODS, LossInputs, MethodContext
from jaxssl.methods.memory import fifo_enqueue, random_queue
from jaxssl.rundir import checkpoint
from jaxssl.rundir.checkpoint import Checkpointer
from tests.helpers import executables_of_a_run, tiny_config
from tests.test_losses_zoo import normalized, numpy_info_nce, numpy_nearest_neighbours

STATEFUL = ["moco_v2", "swav", "dino", "instdisc"]
STATELESS = ["moco_v3", "mae", "cpc_v2", "protonet", "maml"]
# DeepCluster-v2's run, resumed across the epoch where it first clusters its memory, is its own test below.
# Methods whose mechanism an end-to-end row already runs (SimCLR's and BYOL's stateless two-view step in
# tests/test_train.py, MAE's masked step and CPC v2's patch grid on a LayerNorm ResNet here, NNCLR's support
# set in MoCo v2's FIFO queue): their own tests are at the loss level (the formulas against numpy and on 1 vs
# 8 devices in tests/test_losses_zoo.py, the wiring below, the tile tasks and colorization in
# tests/test_pretext.py). FixMatch's end-to-end run, with its resume and its evaluation on the EMA weights, is
# in tests/test_semisup.py; pseudo-label, Mean Teacher, MixMatch, co-training, deep co-training and the
# supervised baseline run on the same mechanism (their loss wiring is tested there). RotNet's labels, made
# inside its loss, are checked through the method in tests/test_pretext.py. VAT, UDA and S4L run on
# FixMatch's mechanism too (their losses through the method in tests/test_semisup_consistency.py and
# tests/test_s4l_pirl.py); PIRL keeps InstDisc's memory bank (tests/test_s4l_pirl.py); iBOT keeps DINO's
# centre, one more of them (tests/test_ibot.py). I-JEPA and MSN feed a ViT a subset of its tokens beside an
# EMA target, as MAE's masked step and MoCo v3's ViT do here (their wiring against the papers' objectives in
# tests/test_ijepa_msn.py). Noisy Student's round (a teacher, then a student of its pseudo-labels, resumed)
# runs end to end in tests/test_noisy_student.py, SimCLR v2's distillation (a fine-tuned teacher's kept
# predictions, then a student, resumed) in tests/test_simclr_v2.py.
LOSS_ONLY = [
    "nnclr",
    "rotnet",
    "vat",
    "uda",
    "s4l",
    "pirl",
    "ibot",
    "ijepa",
    "msn",
    "distill",
    "co_training",
    "deep_co_training",
    "supervised",
    "fixmatch",
    "noisy_student",
    "pseudo_label",
    "mean_teacher",
    "mixmatch",
    "simmim",
    "simsiam",
    "barlow_twins",
    "vicreg",
    "jigsaw",
    "relative_patch",
    "colorization",
    "context_encoder",
    "denoising_autoencoder",
]
# The backbone of a method's end-to-end row when it is not the config's default: MoCo v3 trains a ViT (drop
# path on, the patch projection frozen), so a joint-embedding method on a network without BatchNorm resumes
# bit-exactly with its dropout stream.
OPTIONS = {"moco_v3": "backbone=vit_small"}


def assert_same_tree(a, b):
    for x, y in zip(jax.tree.leaves(jax.device_get(a)), jax.tree.leaves(jax.device_get(b)), strict=True):
        np.testing.assert_array_equal(x, y)


def test_every_registered_method_is_covered_here():
    assert set(STATEFUL + STATELESS + LOSS_ONLY) | {"simclr", "byol", "deepcluster_v2"} == set(METHODS)


def read_lines(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return list(map(json.loads, f))


@pytest.mark.parametrize("method", STATELESS + STATEFUL)
def test_method_trains_and_resumes_exactly(method, fashion_dir, tmp_path):
    # In process: the command line itself is tested with SimCLR and BYOL (tests/test_train.py). Both runs
    # train the same 4 steps, so the second reuses the first one's compiled step.
    uninterrupted, resumed = str(tmp_path / "a"), str(tmp_path / "b")
    config = tiny_config(method, fashion_dir, steps=4, options=OPTIONS.get(method, ""))
    final = train.run(config, uninterrupted)
    train_lines = [line for line in read_lines(uninterrupted) if line["split"] == "train"]
    assert [line["step"] for line in train_lines] == [1, 2, 3, 4]
    assert all(np.isfinite(line["loss"]) for line in train_lines)
    assert sorted(int(name) for name in os.listdir(os.path.join(uninterrupted, "checkpoints"))) == [2, 4]
    # What a SIGKILL after the step-2 checkpoint leaves behind: that checkpoint alone.
    os.makedirs(os.path.join(resumed, "checkpoints"))
    shutil.copytree(
        os.path.join(uninterrupted, "checkpoints", "2"), os.path.join(resumed, "checkpoints", "2")
    )
    again = train.run(config, resumed)
    runs = [(line["start_step"], line["step"]) for line in read_lines(resumed) if line["split"] == "run"]
    assert runs == [(2, 4)]
    assert_same_tree(again.params, final.params)
    assert_same_tree(again.extra, final.extra)
    if method in STATEFUL:
        assert jax.tree.leaves(again.extra), "a stateful method keeps state in TrainState.extra"
    if method == "moco_v3":  # the random patch projection never moves (no update, no decay, no momentum)
        exp = experiment.prepare(config)
        initial = run_state.create_state(exp, run_state.state_layout(exp))
        assert_same_tree(
            final.params["model"]["backbone"]["patch_embed"],
            initial.params["model"]["backbone"]["patch_embed"],
        )
        assert "backbone" not in final.batch_stats, "a ViT has no BatchNorm"
    if method == "swav":  # the prototypes stay on the unit sphere
        kernel = np.asarray(jax.device_get(final.params["model"]["predictor"]["kernel"]))
        np.testing.assert_allclose(np.linalg.norm(kernel, axis=0), 1.0, rtol=1e-5)


def test_multicrop_step_compiles_once(fashion_dir):
    # DINO's; SwAV's multi-crop views are the same preset, and output shardings pinned to the input's (the
    # cause of SwAV's second compile once) are tested for every run by tests/test_train.py. 4 steps, as in the
    # resume test above: the length is a constant of the compiled step, so the compilation cache serves both.
    exp = experiment.prepare(tiny_config("dino", fashion_dir, steps=4))
    assert len({spec.size for spec in exp.view_specs}) == 2, "the tiny config uses two crop sizes"
    assert executables_of_a_run(exp, num_steps=4) == 1


def test_mae_step_with_per_example_masks_compiles_once(fashion_dir):
    exp = experiment.prepare(tiny_config("mae", fashion_dir, steps=4))
    assert executables_of_a_run(exp, num_steps=4) == 1


# MoCo v2: shuffled BN groups must not depend on the device count. InstDisc: its bank split over the devices
# (MoCo v2's queue too) gives the numbers of one device holding it whole. Both with their weights split as a
# large model's are (the micro model's 2 KiB weights and up: parameters, optimizer state, MoCo's EMA).
@pytest.mark.parametrize("method", ["moco_v2", "instdisc"])
def test_1_and_8_devices_give_the_same_run(method, fashion_dir, tmp_path, monkeypatch):
    config = tiny_config(method, fashion_dir, steps=3)
    config.mesh.min_split_weight_bytes = 2048
    eight = train.run(config, str(tmp_path / "eight"))
    weights = [eight.params, eight.opt_state] + ([eight.target] if method == "moco_v2" else [])
    assert all(any(not leaf.is_fully_replicated for leaf in jax.tree.leaves(tree)) for tree in weights)
    assert_same_tree(sharding.host_copy(eight.params), jax.device_get(eight.params))
    all_devices = sharding.make_mesh
    monkeypatch.setattr(sharding, "make_mesh", lambda: all_devices(1))
    one = train.run(tiny_config(method, fashion_dir, steps=3), str(tmp_path / "one"))
    for a, b in zip(
        jax.tree.leaves(jax.device_get(one)), jax.tree.leaves(jax.device_get(eight)), strict=True
    ):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


MEMORIES = {  # method: {array of state.extra: the spec it is split with on 8 devices}
    "moco_v2": {"queue": P("data", None), "pointer": P()},
    "nnclr": {"queue": P("data", None), "pointer": P()},
    "instdisc": {"bank": P("data", None), "log_z": P()},
    "pirl": {"bank": P("data", None), "log_z": P()},
    "swav": {"queue": P(None, "data", None)},
    "deepcluster_v2": {
        "memory": P(None, "data", None),
        "assignments": P(None, "data"),
        "clustered_epoch": P(),
    },
}


@pytest.mark.parametrize("method", sorted(MEMORIES))
def test_memories_are_split_over_the_devices_and_the_rest_replicated(method, fashion_dir):
    layout = run_state.state_layout(experiment.prepare(tiny_config(method, fashion_dir, steps=1)))
    specs = {name: leaf.sharding.spec for name, leaf in layout.extra.items() if hasattr(leaf, "sharding")}
    assert specs == MEMORIES[method]
    assert all(leaf.sharding.spec == P() for leaf in jax.tree.leaves((layout.params, layout.opt_state)))


def test_a_large_weight_is_split_along_its_longest_divided_axis_and_a_small_one_stays_whole():
    mesh, float32, mib = sharding.make_mesh(), np.float32, sharding.DEFAULT_MIN_SPLIT_WEIGHT_BYTES
    assert sharding.weight_split(mesh, (3, 3, 256, 512), float32, mib).spec == P(None, None, None, "data")
    assert sharding.weight_split(mesh, (300_000, 5), float32, mib).spec == P("data", None)
    assert sharding.weight_split(mesh, (7, 40_000), float32, mib).spec == P(None, "data")
    assert sharding.weight_split(mesh, (3, 3, 64, 64), float32, mib).spec == P()  # 147 KB
    assert sharding.weight_split(mesh, (3, 3, 64, 64), float32, 0).spec == P(None, None, "data", None)
    assert sharding.weight_split(mesh, (300_001, 5), float32, mib).spec == P()  # no axis the 8 devices divide
    assert sharding.weight_split(sharding.make_mesh(1), (3, 3, 256, 512), float32, mib).spec == P()


def test_a_memory_the_devices_do_not_divide_stays_whole():
    mesh = sharding.make_mesh()
    assert sharding.rows_split(mesh, (10, 4), 0).spec == P()
    assert sharding.rows_split(mesh, (3, 16, 4), 1).spec == P(None, "data", None)


def test_a_checkpoint_of_a_whole_unpadded_memory_restores_padded_and_split_over_the_devices(
    fashion_dir, tmp_path
):
    # Checkpoints written before memories were split hold them whole, one row per example (64 here): they
    # restore into the padded, split layout, the padding as a fresh state's.
    exp = experiment.prepare(tiny_config("instdisc", fashion_dir, steps=1))
    whole = dataclasses.replace(exp, method=dataclasses.replace(exp.method, memories=()))
    state = run_state.create_state(whole, run_state.state_layout(whole))
    bank = np.asarray(state.extra["bank"])
    assert bank.shape[0] == sharding.padded_rows(64) and not bank[64:].any()
    old = state.replace(extra={**state.extra, "bank": state.extra["bank"][:64]})
    writer = Checkpointer(str(tmp_path), keep=None, identity=exp.identity)
    writer.save(1, old)
    writer.close()
    reader = Checkpointer(str(tmp_path), keep=None, identity=exp.identity)
    restored = reader.restore_latest(run_state.state_layout(exp))
    reader.close()
    assert restored.extra["bank"].sharding.spec == P("data", None)
    np.testing.assert_array_equal(restored.extra["bank"], bank)
    np.testing.assert_array_equal(sharding.pad_rows(np.zeros((2, 3), np.int32), 1, 5)[:, 3:], -1)
    # only the method's own state is padded: a weight of another shape is an incompatible checkpoint
    assert checkpoint.padded_axis(("extra", "bank"), (1000, 8), (1024, 8)) == 0
    assert checkpoint.padded_axis(("params", "model", "kernel"), (1000, 8), (1024, 8)) is None
    assert checkpoint.padded_axis(("extra", "bank"), (1000, 8), (2048, 8)) is None


def test_fifo_queue_holds_the_newest_entries_in_order():
    memory = random_queue(jax.random.key(0), size=6, dim=3)
    batches = [np.array([[i + 1.0, 1.0, 0.0], [i + 1.0, 0.0, 1.0]]) for i in range(4)]
    for batch in batches:
        memory = fifo_enqueue(memory, batch)
    unit = [b / np.linalg.norm(b, axis=1, keepdims=True) for b in batches]
    # Writes went to rows 0-1, 2-3, 4-5, then 0-1 again: the newest batch replaced the oldest.
    np.testing.assert_allclose(memory["queue"], np.concatenate([unit[3], unit[1], unit[2]]), rtol=1e-6)
    assert int(memory["pointer"]) == 2


def micro_method(name, batch=8, num_examples=32, backbone="resnet_micro", backbone_options=None, **kwargs):
    context = MethodContext(
        backbone=models.make_backbone(backbone, **(backbone_options or {})),
        image_mean=(0.5,),
        image_std=(0.25,),
        dtype=jnp.float32,
        num_examples=num_examples,
        global_batch=batch,
        image_size=16,
    )
    return METHODS[name](context, **kwargs)


def micro_inputs(method, specs, step=0, batch=8, seed=0):
    """A fresh online/target state for `method` and LossInputs for one batch of random 16 px images."""
    key = jax.random.key(seed)
    images = jax.random.randint(key, (batch, 1, 16, 16, 1), 0, 256).astype(jnp.uint8)
    views = augment.make_views(key, images, specs)
    variables = method.network.init(jax.random.key(1), views[0], train=True)
    variables = {"params": variables["params"], "batch_stats": variables.get("batch_stats", {})}
    target = dict(variables)
    inputs = LossInputs(
        batch_stats=variables["batch_stats"],
        target=target if method.uses_target else {},
        extra=method.init_extra(jax.random.key(2)) if method.init_extra else {},
        views=views,
        indices=jnp.arange(batch, dtype=jnp.int32) * 3,
        labels=jnp.full((batch,), -1, jnp.int32),
        step=jnp.asarray(step, jnp.int32),
        key=jax.random.key(3),
    )
    return variables, inputs


def test_moco_v2_enqueues_the_unshuffled_keys_of_the_momentum_encoder():
    method = micro_method(
        "moco_v2", projector_hidden_dims=(16,), projection_dim=8, queue_size=16, bn_groups=1
    )
    variables, inputs = micro_inputs(method, augment.simclr_views(16))
    _, aux = method.loss(variables["params"], inputs)
    # With one BN group the shuffle cannot change a key: the enqueued rows must be the target's projections
    # of view 2 in the batch's own order.
    keys, _ = method.network.apply(inputs.target, inputs.views[1], train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(aux.extra["queue"][:8], losses.l2_normalize(keys["projection"]), atol=1e-5)
    np.testing.assert_array_equal(aux.extra["queue"][8:], inputs.extra["queue"][8:])
    assert int(aux.extra["pointer"]) == 8


def test_nnclr_contrasts_each_views_support_neighbour_with_the_other_views_prediction_and_enqueues_view_1():
    # Dwibedi et al. 2021, eq. (1)-(2) symmetrised, on the network's own training-mode outputs (the two views
    # are one BatchNorm batch, as forward_views runs them).
    method = micro_method(
        "nnclr", projector_hidden_dims=(16,), projection_dim=8, predictor_hidden_dims=(16,), queue_size=16
    )
    variables, inputs = micro_inputs(method, augment.simclr_views(16))
    value, aux = method.loss(variables["params"], inputs)
    both, _ = method.network.apply(
        variables, jnp.concatenate(inputs.views[:2]), train=True, mutable=["batch_stats"]
    )
    z1, z2 = np.split(np.asarray(both["projection"]), 2)
    p1, p2 = np.split(np.asarray(both["prediction"]), 2)
    support = np.asarray(inputs.extra["queue"])
    expected = (
        numpy_info_nce(numpy_nearest_neighbours(z1, support), p2, None, 0.1)
        + numpy_info_nce(numpy_nearest_neighbours(z2, support), p1, None, 0.1)
    ) / 2
    np.testing.assert_allclose(value, expected, rtol=1e-4)
    np.testing.assert_allclose(aux.extra["queue"][:8], normalized(z1), atol=1e-5)
    np.testing.assert_array_equal(aux.extra["queue"][8:], support[8:])
    assert int(aux.extra["pointer"]) == 8


def test_instdisc_moves_the_batch_rows_of_the_memory_bank_with_momentum():
    method = micro_method("instdisc", projection_dim=8, num_negatives=0, memory_momentum=0.5)
    variables, inputs = micro_inputs(method, augment.instdisc_views(16))
    _, aux = method.loss(variables["params"], inputs)
    outputs, _ = method.network.apply(variables, inputs.views[0], train=True, mutable=["batch_stats"])
    old = inputs.extra["bank"][inputs.indices]
    expected = losses.l2_normalize(0.5 * old + 0.5 * losses.l2_normalize(outputs["projection"]))
    np.testing.assert_allclose(aux.extra["bank"][inputs.indices], expected, atol=1e-5)
    untouched = np.setdiff1d(np.arange(32), np.asarray(inputs.indices))
    np.testing.assert_array_equal(aux.extra["bank"][untouched], inputs.extra["bank"][untouched])
    # The exact softmax has no normaliser to estimate: its state is finite from the start, so it is saved.
    assert set(aux.extra) == set(inputs.extra) == {"bank"} and bool(finite.all_finite(inputs.extra))


def test_instdisc_nce_estimates_its_normaliser_once():
    method = micro_method("instdisc", projection_dim=8, num_negatives=16)
    variables, inputs = micro_inputs(method, augment.instdisc_views(16))
    assert np.isnan(inputs.extra["log_z"])
    _, aux = method.loss(variables["params"], inputs)
    assert np.isfinite(aux.extra["log_z"])
    _, later = method.loss(variables["params"], inputs.__class__(**{**vars(inputs), "extra": aux.extra}))
    assert later.extra["log_z"] == aux.extra["log_z"]


def test_dino_centre_follows_its_ema_of_the_teacher_outputs():
    method = micro_method("dino", head_hidden_dims=(16,), bottleneck_dim=8, out_dim=32, center_momentum=0.9)
    specs = augment.multicrop_views(16, small_size=8, num_small=2, style="byol")
    variables, inputs = micro_inputs(method, specs)
    inputs = inputs.__class__(**{**vars(inputs), "extra": {"center": jnp.linspace(-1, 1, 32)}})
    _, aux = method.loss(variables["params"], inputs)
    teacher, _ = method.network.apply(
        inputs.target, jnp.concatenate(inputs.views[:2]), train=True, mutable=["batch_stats"]
    )
    expected = 0.9 * inputs.extra["center"] + 0.1 * jnp.mean(teacher["projection"], axis=0)
    np.testing.assert_allclose(aux.extra["center"], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "path"), [("dino", ("projector", "last_layer")), ("swav", ("predictor", "kernel"))]
)
def test_frozen_layer_is_not_updated_in_the_first_epoch_only(name, path):
    kwargs = (
        dict(head_hidden_dims=(16,), bottleneck_dim=8, out_dim=32, freeze_last_layer_epochs=1.0)
        if name == "dino"
        else dict(
            projector_hidden_dims=(16,), projection_dim=8, num_prototypes=12, freeze_prototypes_epochs=1.0
        )
    )
    method = micro_method(name, **kwargs)  # 32 examples / batch 8: epoch 1 starts at step 4
    assert method.frozen == (("/".join(path), 4),)
    specs = augment.multicrop_views(
        16, small_size=8, num_small=2, style="byol" if name == "dino" else "simclr"
    )
    variables, inputs = micro_inputs(method, specs)
    params = variables["params"]
    grads = jax.grad(lambda p: method.loss(p, inputs)[0])(params)
    assert np.any(np.asarray(grads[path[0]][path[1]]) != 0)  # it has a gradient: the optimizer holds it
    lars = optim.make_optimizer("lars", 0.5, weight_decay=1e-3, trust_coefficient=0.02)
    optimizer = optim.hold(lars, method.frozen)
    state = optimizer.init(params)
    for step in range(5):
        updates, state = optimizer.update(grads, state, params)
        assert bool(np.all(np.asarray(updates[path[0]][path[1]]) == 0)) == (step < 4), step
        assert any(np.any(np.asarray(leaf) != 0) for leaf in jax.tree.leaves(updates["backbone"]))


def test_deepcluster_v2_clusters_its_memory_when_a_new_epoch_starts_and_resumes_across_it(
    fashion_dir, tmp_path
):
    # 64 examples, batch 16: epoch 1 starts at step 4; before it nothing is assigned and the loss is zero.
    # One run of 5 steps; the state before step 5 is its step-4 checkpoint. A run resumed from its step-2
    # checkpoint (what a SIGKILL after it leaves) clusters at the same step and ends on the same state.
    workdir, at_step_4, resumed = str(tmp_path / "dc"), str(tmp_path / "dc4"), str(tmp_path / "resumed")
    config = tiny_config("deepcluster_v2", fashion_dir, steps=5)
    exp = experiment.prepare(config)
    layout = run_state.state_layout(exp)
    initial = run_state.create_state(exp, layout)
    after = train.run(config, workdir)
    shutil.copytree(os.path.join(workdir, "checkpoints", "2"), os.path.join(resumed, "checkpoints", "2"))
    again = train.run(config, resumed)
    runs = [(line["start_step"], line["step"]) for line in read_lines(resumed) if line["split"] == "run"]
    assert runs == [(2, 5)]
    assert_same_tree(
        (again.params, again.batch_stats, again.extra), (after.params, after.batch_stats, after.extra)
    )
    shutil.copytree(os.path.join(workdir, "checkpoints", "4"), os.path.join(at_step_4, "checkpoints", "4"))
    checkpointer = Checkpointer(at_step_4, keep=None, identity=exp.identity)
    before = checkpointer.restore_latest(layout)
    checkpointer.close()
    assert int(before.step) == 4
    assert int(before.extra["clustered_epoch"]) == 0
    assert np.all(np.asarray(before.extra["assignments"]) == -1)
    # The memory-filling epoch changes no parameter (no weight decay either: LARS would shrink every kernel).
    assert_same_tree(before.params["model"], initial.params["model"])
    assert int(after.extra["clustered_epoch"]) == 1
    changed = jax.tree.map(
        lambda a, b: not np.array_equal(a, b), after.params["model"], before.params["model"]
    )
    assert all(jax.tree.leaves(changed["projector"]))
    assignments = np.asarray(after.extra["assignments"])
    assert assignments[:, :64].min() >= 0 and np.all(assignments[:, 64:] == -1)  # past the examples: padding
    for head, centroids in enumerate(after.extra["centroids"].values()):
        assert assignments[head].max() < centroids.shape[0]
        np.testing.assert_allclose(np.linalg.norm(centroids, axis=1), 1.0, rtol=1e-5)


def test_drop_path_draws_from_the_loss_key_in_training_and_evaluation_is_deterministic():
    method = micro_method(
        "moco_v3",
        backbone="vit_micro",
        backbone_options=dict(drop_path=0.5),
        projector_hidden_dims=(16,),
        projection_dim=8,
        predictor_hidden_dims=(16,),
    )
    variables, inputs = micro_inputs(method, augment.byol_views(16))
    value = lambda key: float(method.loss(variables["params"], dataclasses.replace(inputs, key=key))[0])  # noqa: E731
    assert value(jax.random.key(3)) == value(jax.random.key(3))
    assert value(jax.random.key(3)) != value(jax.random.key(4))
    features = lambda: method.network.apply(variables, inputs.views[0], train=False, method="features")  # noqa: E731
    np.testing.assert_array_equal(features(), features())


@pytest.mark.parametrize("name", ["simsiam", "barlow_twins", "vicreg"])
def test_a_two_view_method_trains_every_part_of_its_network(name):
    method = micro_method(name, projector_hidden_dims=(16,), projection_dim=8)
    variables, inputs = micro_inputs(method, augment.simclr_views(16))
    (value, aux), grads = jax.value_and_grad(method.loss, has_aux=True)(variables["params"], inputs)
    assert np.isfinite(value) and aux.features.shape == (8, 16)
    for part, tree in grads.items():  # backbone, projector (and SimSiam's predictor)
        norms = [float(jnp.linalg.norm(leaf)) for leaf in jax.tree.leaves(tree)]
        assert all(np.isfinite(norms)) and max(norms) > 0, part
    assert not jax.tree.all(jax.tree.map(jnp.array_equal, aux.batch_stats, variables["batch_stats"]))


def test_simmim_scores_the_l1_error_of_the_masked_patches_only():
    method = micro_method("simmim", backbone="vit_micro", mask_ratio=0.5, mask_patch_size=8)
    variables, inputs = micro_inputs(method, augment.masked_image_views(16))
    value, aux = method.loss(variables["params"], inputs)
    mask = masking.block_mask(inputs.key, 8, 16, 4, 8, 0.5)
    assert np.all(np.asarray(mask).sum(axis=1) == 8)  # 2 of the 4 coarse 8 px cells, 4 patches each
    pred = method.network.apply(
        variables, inputs.views[0], train=True, mask=mask, rngs={"dropout": inputs.key}
    )
    target = masking.patchify((inputs.views[0] - 0.5) / 0.25, 4)
    expected = np.sum(np.abs(pred["pred"] - target) * np.asarray(mask)[:, :, None]) / (np.sum(mask) * 16)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    assert aux.features.shape == (8, 32) and aux.batch_stats == {}
    rows = method.reconstruct(variables, inputs.views[0], inputs.key)
    visible = np.asarray(masking.patchify(rows["reconstruction"], 4))[np.asarray(mask) == 0]
    np.testing.assert_allclose(
        visible, np.asarray(masking.patchify(inputs.views[0], 4))[np.asarray(mask) == 0]
    )


@pytest.mark.parametrize(
    ("name", "kwargs", "message"),
    [
        ("mae", dict(mask_ratio=1.0), "mask_ratio"),
        ("mae", dict(), "needs a ViT backbone"),
        ("simmim", dict(mask_patch_size=6), "mask_patch"),
        ("moco_v3", dict(freeze_patch_embedding=True), "needs a ViT backbone"),
    ],
)
def test_masked_models_refuse_what_they_cannot_mask(name, kwargs, message):
    backbone = "resnet_micro" if message == "needs a ViT backbone" else "vit_micro"
    with pytest.raises(ValueError, match=message):
        micro_method(name, backbone=backbone, **kwargs)
