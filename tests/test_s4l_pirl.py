"""S4L's and PIRL's losses against the papers' equations written out in numpy and on 1 and 8 devices, their
wiring at the micro level, and their refusals. Both train and resume end to end in tests/test_methods.py."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from configs import s4l as s4l_config
from jaxssl import augment, experiment, losses, sharding
from jaxssl.augment import pretext
from jaxssl.methods import pirl
from jaxssl.methods.tile_task import TILE_KEY_SALT
from tests.helpers import tiny_config
from tests.test_methods import micro_inputs, micro_method
from tests.test_semisup import micro_semisup, semisup_inputs


def numpy_batch_hard_triplet(embeddings, margin, soft):
    """The batch-hard loss of Hermans et al. 2017, anchor by anchor, on L2-normalised copies."""
    units = embeddings / np.linalg.norm(embeddings, axis=-1, keepdims=True)
    num_images, copies, _ = units.shape
    total = 0.0
    for i, k in itertools.product(range(num_images), range(copies)):
        anchor = units[i, k]
        positive = max(np.linalg.norm(anchor - units[i, p]) for p in range(copies) if p != k)
        negative = min(
            np.linalg.norm(anchor - units[j, p])
            for j, p in itertools.product(range(num_images), range(copies))
            if j != i
        )
        violation = margin + positive - negative
        total += np.log1p(np.exp(violation)) if soft else max(violation, 0.0)
    return total / (num_images * copies)


@pytest.mark.parametrize(("margin", "soft"), [(0.0, True), (0.3, False), (0.2, True)])
def test_batch_hard_triplet_matches_the_formula(margin, soft):
    embeddings = np.random.default_rng(0).normal(size=(5, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(
        losses.batch_hard_triplet(embeddings, margin, soft),
        numpy_batch_hard_triplet(embeddings, margin, soft),
        rtol=1e-5,
    )
    grads = jax.grad(losses.batch_hard_triplet)(jnp.asarray(embeddings), margin, soft)
    assert np.all(np.isfinite(grads)) and np.any(grads != 0)
    identical = np.repeat(embeddings[:, :1], 3, axis=1)  # every positive at distance 0
    assert np.all(np.isfinite(jax.grad(losses.batch_hard_triplet)(jnp.asarray(identical), margin, soft)))


def numpy_pirl_nce(image_v, tile_v, bank, indices, negatives, temperature, log_z, mix):
    """Misra and van der Maaten 2020, eq. (5)-(6), with h the NCE posterior P / (P + m / N), P = e^(s/T) / Z."""
    num_examples, num_negatives = bank.shape[0], negatives.shape[1]

    def h(u, w):
        cosine = u @ w / (np.linalg.norm(u) * np.linalg.norm(w))
        p = np.exp(cosine / temperature) / np.exp(log_z)
        return p / (p + num_negatives / num_examples)

    def l_nce(b, query):
        value = -np.log(h(bank[indices[b]], query))
        for n in negatives[b]:
            value -= np.log(1.0 - h(query, bank[n]))
        return value

    total = sum(mix * l_nce(b, tile_v[b]) + (1 - mix) * l_nce(b, image_v[b]) for b in range(len(indices)))
    return total / len(indices)


def pirl_inputs(seed=0, batch=4, rows=16, dim=5, count=6):
    rng = np.random.default_rng(seed)
    bank = rng.normal(size=(rows, dim)).astype(np.float32)
    bank /= np.linalg.norm(bank, axis=1, keepdims=True)
    image_v, tile_v = (rng.normal(size=(batch, dim)).astype(np.float32) for _ in range(2))
    indices = rng.choice(rows, batch, replace=False).astype(np.int32)
    negatives = rng.integers(0, rows, (batch, count)).astype(np.int32)
    return image_v, tile_v, bank, indices, negatives


@pytest.mark.parametrize("mix", [0.5, 0.25])
def test_pirl_nce_is_the_lambda_mix_of_both_branches_against_bank_negatives(mix):
    image_v, tile_v, bank, indices, negatives = pirl_inputs()
    value = losses.pirl_nce(image_v, tile_v, bank, indices, negatives, 0.2, 1.5, mix)
    expected = numpy_pirl_nce(image_v, tile_v, bank, indices, negatives, 0.2, 1.5, mix)
    np.testing.assert_allclose(value, expected, rtol=1e-5)


def test_the_losses_are_the_same_on_1_and_8_devices():
    split = NamedSharding(sharding.make_mesh(8), PartitionSpec(sharding.DATA_AXIS))
    embeddings = np.random.default_rng(1).normal(size=(16, 2, 6)).astype(np.float32)
    triplet = jax.jit(losses.batch_hard_triplet, static_argnums=(1, 2))
    np.testing.assert_allclose(
        triplet(jax.device_put(embeddings, split), 0.0, True), triplet(embeddings, 0.0, True), rtol=1e-6
    )
    arrays = pirl_inputs(seed=2, batch=16, rows=32, count=8)
    nce = jax.jit(lambda *a: losses.pirl_nce(*a, temperature=0.1, log_normalizer=2.0, mix=0.5))
    one = nce(*arrays)
    eight = nce(
        *(jax.device_put(array, split) for array in arrays)
    )  # the bank's rows split too, as in training
    np.testing.assert_allclose(eight, one, rtol=1e-6)


@pytest.mark.parametrize("task", ["rotation", "exemplar"])
def test_s4l_is_the_classifier_on_every_labelled_copy_plus_the_weighted_self_supervised_loss(task):
    method = micro_semisup("s4l", task=task, self_supervised_weight=0.5, embedding_dim=8)
    variables, inputs = semisup_inputs(method, views=1 if task == "rotation" else 3)
    value, aux = method.loss(variables["params"], inputs)
    if task == "rotation":
        images, rotation_labels = pretext.rotations(inputs.views[0])
    else:
        images = jnp.concatenate(inputs.views)
    outputs = method.network.apply(variables, images, train=True, mutable=["batch_stats"])[0]
    copies = images.shape[0] // 16
    labelled_logits = outputs["logits"].reshape(copies, 16, 10)[:, :4].reshape(-1, 10)
    supervised = optax.softmax_cross_entropy_with_integer_labels(
        labelled_logits, jnp.tile(inputs.labels[:4], copies)
    ).mean()
    if task == "rotation":
        auxiliary = optax.softmax_cross_entropy_with_integer_labels(
            outputs["auxiliary"], rotation_labels
        ).mean()
    else:
        auxiliary = losses.batch_hard_triplet(
            jnp.swapaxes(outputs["auxiliary"].reshape(3, 16, 8), 0, 1), 0.0, True
        )
    np.testing.assert_allclose(value, supervised + 0.5 * auxiliary, rtol=1e-5)
    np.testing.assert_allclose(aux.features, outputs["features"][:16], rtol=1e-5)
    assert method.eval_weights == "online" and aux.pseudo_labels is None


def test_pirl_tiles_are_each_cell_once_in_an_order_of_their_own():
    images = jnp.asarray(np.random.default_rng(3).random((6, 16, 16, 1), dtype=np.float32))
    layout = pretext.TileGrid(16, 3, 4, 0)
    tiles = np.asarray(pirl.shuffled_tiles(jax.random.key(0), images, layout))
    cells = np.asarray(pretext.cut_tiles(images, np.broadcast_to(layout.centred_origins(), (6, 9, 2)), 4))
    orders = []
    for b in range(6):
        order = [next(c for c in range(9) if np.array_equal(tiles[b, t], cells[b, c])) for t in range(9)]
        assert sorted(order) == list(range(9))
        orders.append(tuple(order))
    assert len(set(orders)) > 1
    negatives = np.asarray(pirl.negatives_besides(jax.random.key(1), jnp.arange(4) * 2, 200, 9))
    assert not np.any(negatives == (np.arange(4) * 2)[:, None])
    assert all(set(row) == set(range(9)) - {2 * b} for b, row in enumerate(negatives.tolist()))


def test_pirl_mixes_both_branches_against_the_bank_and_moves_the_image_rows_only():
    method = micro_method("pirl", projection_dim=8, num_negatives=8, tile_size=4, jitter=0, mix=0.5)
    variables, inputs = micro_inputs(method, augment.simclr_views(16))
    value, aux = method.loss(variables["params"], inputs)
    tiles = pirl.shuffled_tiles(
        jax.random.fold_in(inputs.key, TILE_KEY_SALT), inputs.views[1], pretext.TileGrid(16, 3, 4, 0)
    )
    outputs = method.network.apply(
        variables, inputs.views[0], train=True, tiles=tiles, mutable=["batch_stats"]
    )[0]
    f, g = outputs["projection"], outputs["tile_projection"]
    bank, indices = inputs.extra["bank"], inputs.indices
    negatives = pirl.negatives_besides(
        jax.random.fold_in(inputs.key, pirl.NEGATIVES_KEY_SALT), indices, 8, 32
    )
    log_z = losses.nce_log_normalizer(g, bank, negatives, 0.07, 32)
    np.testing.assert_allclose(aux.extra["log_z"], log_z, rtol=1e-5)  # estimated on the first step, then held
    expected = losses.pirl_nce(f, g, bank, indices, negatives, 0.07, log_z, 0.5, 32)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    moved = losses.l2_normalize(0.5 * bank[indices] + 0.5 * losses.l2_normalize(f))
    np.testing.assert_allclose(aux.extra["bank"][indices], moved, atol=1e-5)
    untouched = np.setdiff1d(np.arange(bank.shape[0]), np.asarray(indices))
    np.testing.assert_array_equal(aux.extra["bank"][untouched], bank[untouched])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: micro_semisup("s4l", labelled=0),
            "s4l's rotation head trains beside a classifier of the labelled rows, and this run has none",
        ),
        (lambda: micro_semisup("s4l", task="jigsaw"), "unknown s4l task 'jigsaw'"),
        (lambda: micro_semisup("s4l", triplet_margin=-0.1), "triplet_margin must be >= 0"),
        (
            lambda: micro_method("pirl", batch=16, num_examples=8, tile_size=4, jitter=0),
            "pirl's memory bank holds one row per training example, 8, fewer than the global batch of 16",
        ),
        (
            lambda: micro_method("pirl", num_negatives=32, tile_size=4, jitter=0),
            r"num_negatives must lie in \[1, 31\], got 32",
        ),
        (lambda: micro_method("pirl", num_negatives=8, tile_size=6, jitter=0), "do not fit"),
        (lambda: s4l_config.get_config("task=jigsaw"), "config option task='jigsaw'"),
    ],
)
def test_s4l_and_pirl_refuse_what_they_cannot_train_when_made(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_s4l_without_labelled_rows_is_refused_before_anything_compiles(fashion_dir):
    config = tiny_config("s4l", fashion_dir, steps=1)
    with config.unlocked():
        del config.semisup
    with pytest.raises(
        ValueError, match="s4l's rotation head trains beside a classifier of the labelled rows"
    ):
        experiment.prepare(config)
    method = micro_semisup("s4l", task="exemplar", embedding_dim=8)
    variables, inputs = semisup_inputs(method, views=1)
    with pytest.raises(ValueError, match="give it at least 2 views"):
        method.loss(variables["params"], inputs)
