"""VAT + EntMin and UDA: their losses against numpy written from the papers' equations, the same values on 1
and 8 devices, each method's loss wiring, and their refusals (the end-to-end runs and exact resumes are in
tests/test_methods.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import NamedSharding, PartitionSpec

from jaxssl import losses, models, sharding
from jaxssl.methods import METHODS, MethodContext
from jaxssl.methods.forward import forward
from tests.test_semisup import micro_semisup, semisup_inputs


def gaussian(seed, *shape, scale=2.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype(np.float32)


def numpy_softmax(logits):
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def numpy_kl(p, q):
    return float(np.sum(np.where(p > 0, p * (np.log(np.maximum(p, 1e-300)) - np.log(q)), 0.0)))


# A linear-softmax model on image-shaped rows: p(x) = softmax(flatten(x) W + b). The divergence's gradient
# is analytic: grad_r KL(p(x) || p(x + r)) = W (p(x + r) - p(x)), row by row.
ROWS, IMAGE, CLASSES = 6, (2, 3, 2), 4
FEATURES = int(np.prod(IMAGE))


def linear_model(seed):
    weights, bias = gaussian(seed, FEATURES, CLASSES, scale=1.0), gaussian(seed + 1, CLASSES, scale=0.5)
    images = gaussian(seed + 2, ROWS, *IMAGE, scale=1.0)

    def logits_of(r):
        return (images + r).reshape(ROWS, FEATURES) @ weights + bias

    return weights.astype(np.float64), bias.astype(np.float64), images.astype(np.float64), logits_of


def numpy_power_iteration(weights, bias, images, direction, xi, epsilon, iterations):
    """Miyato et al. 2018, eq. 12-14, one row at a time with the analytic gradient."""
    adversarial = []
    for x, d in zip(images.reshape(ROWS, FEATURES), direction.reshape(ROWS, FEATURES), strict=True):
        p = numpy_softmax(x @ weights + bias)
        d = d / np.linalg.norm(d)
        for _ in range(iterations):
            g = weights @ (numpy_softmax((x + xi * d) @ weights + bias) - p)
            d = g / np.linalg.norm(g)
        adversarial.append(epsilon * d)
    return np.stack(adversarial).reshape(ROWS, *IMAGE)


@pytest.mark.parametrize("iterations", [1, 2])
def test_vat_perturbation_is_the_power_iteration_of_the_analytic_gradient(iterations):
    weights, bias, images, logits_of = linear_model(0)
    direction = gaussian(3, ROWS, *IMAGE)
    r_adv = losses.virtual_adversarial_perturbation(
        logits_of, logits_of(0.0), direction, xi=0.5, epsilon=2.5, iterations=iterations
    )
    expected = numpy_power_iteration(
        weights, bias, images, direction.astype(np.float64), 0.5, 2.5, iterations
    )
    np.testing.assert_allclose(r_adv, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(r_adv).reshape(ROWS, -1), axis=1), 2.5, rtol=1e-5)
    grad = jax.grad(
        lambda z: jnp.sum(losses.virtual_adversarial_perturbation(logits_of, z, direction, 0.5, 1.0))
    )
    assert np.all(grad(logits_of(0.0)) == 0)  # r_adv is a fixed input of the loss


def test_vat_power_iterations_converge_to_the_top_eigenvector_of_the_divergence_hessian():
    # g / xi -> H d as xi -> 0, H = W (diag(p) - p p^T) W^T the Hessian of KL(p(x) || p(x + r)) at r = 0
    weights, bias, images, logits_of = linear_model(4)
    r_adv = losses.virtual_adversarial_perturbation(
        logits_of, logits_of(0.0), gaussian(5, ROWS, *IMAGE), xi=1e-3, epsilon=1.0, iterations=40
    )
    for x, r in zip(images.reshape(ROWS, FEATURES), np.asarray(r_adv).reshape(ROWS, FEATURES), strict=True):
        p = numpy_softmax(x @ weights + bias)
        eigenvalues, eigenvectors = np.linalg.eigh(weights @ (np.diag(p) - np.outer(p, p)) @ weights.T)
        assert eigenvalues[-2] < 0.9 * eigenvalues[-1]  # a gap the 40 iterations close
        assert abs(r @ eigenvectors[:, -1]) > 0.999


def test_unit_rows_normalises_each_row_and_keeps_tiny_and_zero_rows():
    rows = np.stack([gaussian(6, 3, 2), gaussian(7, 3, 2) * 1e-30, np.zeros((3, 2), np.float32)])
    tiny = rows[1].astype(np.float64)
    unit = np.asarray(losses.unit_rows(rows))
    np.testing.assert_allclose(np.linalg.norm(unit[:2].reshape(2, -1), axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(unit[1], tiny / np.linalg.norm(tiny), rtol=1e-5)
    assert np.all(unit[2] == 0)


def test_virtual_adversarial_loss_and_entropy_match_their_sums():
    clean, adversarial = gaussian(8, 10, 5), gaussian(9, 10, 5)
    p, q = numpy_softmax(clean.astype(np.float64)), numpy_softmax(adversarial.astype(np.float64))
    expected = np.mean([numpy_kl(p[n], q[n]) for n in range(10)])
    np.testing.assert_allclose(losses.virtual_adversarial_loss(clean, adversarial), expected, rtol=1e-5)
    entropy = np.mean([-np.sum(q[n] * np.log(q[n])) for n in range(10)])
    np.testing.assert_allclose(losses.prediction_entropy(adversarial), entropy, rtol=1e-5)
    clean_grad, adversarial_grad = jax.grad(losses.virtual_adversarial_loss, (0, 1))(clean, adversarial)
    assert np.all(clean_grad == 0) and np.any(adversarial_grad != 0)  # the clean prediction is theta-hat's
    assert float(losses.virtual_adversarial_loss(clean, clean)) == pytest.approx(0.0, abs=1e-6)


def numpy_uda(weak, strong, temperature, threshold):
    """Xie et al. 2020: sharpened weak target, confidence mask on the unsharpened one, one row at a time."""
    total, kept = 0.0, []
    for w, s in zip(weak.astype(np.float64), strong.astype(np.float64), strict=True):
        confident = numpy_softmax(w).max() > threshold
        if confident:
            total += numpy_kl(numpy_softmax(w / temperature), numpy_softmax(s))
        kept.append(confident)
    return total / len(weak), np.array(kept)


@pytest.mark.parametrize("threshold", [0.0, 0.8, 0.999])
def test_uda_unlabelled_is_the_masked_kl_to_the_sharpened_weak_prediction(threshold):
    weak, strong = gaussian(10, 32, 10), gaussian(11, 32, 10)
    value, confident = losses.uda_unlabelled(weak, strong, 0.4, threshold)
    expected_value, expected_mask = numpy_uda(weak, strong, 0.4, threshold)
    np.testing.assert_allclose(value, expected_value, rtol=1e-5)
    np.testing.assert_array_equal(confident, expected_mask)
    if threshold == 0.8:
        assert 0 < expected_mask.sum() < 32
    weak_grad, strong_grad = jax.grad(lambda w, s: losses.uda_unlabelled(w, s, 0.4, 0.8)[0], (0, 1))(
        weak, strong
    )
    assert np.all(weak_grad == 0) and np.any(strong_grad != 0)


@pytest.mark.parametrize(
    "schedule, alpha",
    [
        ("none", lambda t: 1.0),
        ("linear", lambda t: t),
        ("log", lambda t: 1 - np.exp(-5 * t)),
        ("exp", lambda t: np.exp(5 * (t - 1))),
    ],
)
def test_tsa_threshold_follows_its_schedule_from_chance(schedule, alpha):
    for step in (0, 25, 50, 100, 150):
        t = min(step / 100, 1.0)
        expected = alpha(t) * (1 - 1 / 10) + 1 / 10
        assert float(losses.tsa_threshold(schedule, step, 100, 10)) == pytest.approx(expected, rel=1e-6)


def test_annealed_cross_entropy_leaves_out_the_rows_predicted_above_the_threshold():
    logits, labels = gaussian(12, 16, 5), np.arange(16) % 5
    probs = numpy_softmax(logits.astype(np.float64))
    correct = probs[np.arange(16), labels]
    threshold = float(np.median(correct))
    kept = correct <= threshold
    expected = np.sum(-np.log(correct) * kept) / kept.sum()
    value, fraction = losses.annealed_cross_entropy(logits, labels, threshold)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    assert float(fraction) == pytest.approx(kept.mean())
    every_row, _ = losses.annealed_cross_entropy(logits, labels, 1.0)
    np.testing.assert_allclose(every_row, np.mean(-np.log(correct)), rtol=1e-5)
    none, fraction = losses.annealed_cross_entropy(logits, labels, 0.0)
    assert float(none) == 0.0 and float(fraction) == 0.0


SHARDED_WEIGHTS = gaussian(13, FEATURES, CLASSES, scale=1.0)
# The perturbation at xi = 0.5: a finite difference divides the logits' rounding by xi, and the two layouts may
# round the matrix product differently, so the other losses' tolerance holds at 0.5, not at the step's 1e-3.
SHARDED = {
    "virtual_adversarial_perturbation": lambda a, b: losses.virtual_adversarial_perturbation(
        lambda r: (a / 4 + r) @ SHARDED_WEIGHTS, a / 4 @ SHARDED_WEIGHTS, b, 0.5, 2.0
    ),
    "virtual_adversarial_loss": lambda a, b: losses.virtual_adversarial_loss(a[:, :CLASSES], b[:, :CLASSES]),
    "prediction_entropy": lambda a, b: losses.prediction_entropy(a),
    "uda_unlabelled": lambda a, b: losses.uda_unlabelled(a, b, 0.4, 0.3),
    "annealed_cross_entropy": lambda a, b: losses.annealed_cross_entropy(
        a, jnp.argmax(b, axis=-1), losses.tsa_threshold("log", 3, 10, FEATURES)
    ),
}


@pytest.mark.parametrize("name", list(SHARDED))
def test_same_value_on_1_and_8_devices(name):
    # 8 rows of 12 values (logits; a linear model's inputs and directions), split over the 8 devices by row
    loss_fn = jax.jit(SHARDED[name])
    arrays = (gaussian(14, 8, FEATURES), gaussian(15, 8, FEATURES))
    one_device = loss_fn(*(jax.device_put(x, jax.devices()[0]) for x in arrays))
    split = NamedSharding(sharding.make_mesh(8), PartitionSpec(sharding.DATA_AXIS))
    sharded = [jax.device_put(x, split) for x in arrays]
    assert len(sharded[0].sharding.device_set) == 8
    eight_devices = loss_fn(*sharded)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), eight_devices, one_device
    )


def test_vat_loss_is_the_labelled_ce_plus_the_smoothness_of_every_row_and_the_unlabelled_entropy():
    method = micro_semisup("vat", epsilon=2.0, xi=1e-3, vat_weight=0.5, entropy_weight=0.25)
    variables, inputs = semisup_inputs(method, views=1)

    @jax.jit
    def expected(variables, inputs):
        (view,) = inputs.views
        logits = forward(method.network, variables, view)[0]["logits"]
        supervised = optax.softmax_cross_entropy_with_integer_labels(logits[:4], inputs.labels[:4]).mean()

        def perturbed_logits(r):  # r in the standardised input: images move by r x std (0.25)
            return forward(method.network, variables, view + 0.25 * r)[0]["logits"]

        direction = jax.random.normal(jax.random.fold_in(inputs.key, 0), view.shape)
        r_adv = losses.virtual_adversarial_perturbation(perturbed_logits, logits, direction, 1e-3, 2.0)
        smoothness = losses.virtual_adversarial_loss(logits, perturbed_logits(r_adv))
        value = supervised + 0.5 * smoothness + 0.25 * losses.prediction_entropy(logits[4:])
        # the exact Hessian-vector product H d (forward over reverse mode), H the divergence's Hessian at r = 0
        zeros = jnp.zeros_like(view)
        _, logit_change = jax.jvp(perturbed_logits, (zeros,), (losses.unit_rows(direction),))
        p = jax.nn.softmax(logits)
        fisher_product = p * logit_change - p * jnp.sum(p * logit_change, axis=-1, keepdims=True)
        exact = losses.unit_rows(jax.vjp(perturbed_logits, zeros)[1](fisher_product)[0])
        return value, jnp.argmax(logits[4:], -1), jnp.sum((r_adv / 2.0 * exact).reshape(16, -1), axis=-1)

    value, aux = jax.jit(method.loss)(variables["params"], inputs)
    expected_value, predicted, cosines = expected(variables, inputs)
    np.testing.assert_allclose(value, expected_value, rtol=1e-5)
    assert float(aux.metrics["vat_kl"]) > 0 and method.eval_weights == "online" and not method.uses_target
    np.testing.assert_array_equal(aux.pseudo_labels, np.concatenate([[-1] * 4, predicted]))
    # the power iteration's finite difference at xi = 1e-3 finds H d's direction through the network's
    # BatchNorm batch, in float32
    assert float(jnp.min(cosines)) > 0.99


def test_uda_loss_is_the_annealed_labelled_ce_plus_the_weighted_consistency_over_one_batchnorm_batch():
    with pytest.raises(ValueError, match="anneals over tsa_steps >= 1"):
        micro_semisup("uda", tsa_schedule="linear")
    method = micro_semisup(
        "uda", temperature=0.5, threshold=0.165, unlabelled_weight=2.0, tsa_schedule="linear", tsa_steps=8
    )
    variables, inputs = semisup_inputs(method, step=4)
    weak, strong = inputs.views
    value, aux = method.loss(variables["params"], inputs)
    logits = forward(method.network, variables, jnp.concatenate([weak, strong[4:]]))[0]["logits"]
    eta = 0.5 * (1 - 1 / 10) + 1 / 10
    supervised, kept = losses.annealed_cross_entropy(logits[:4], inputs.labels[:4], eta)
    consistency, confident = losses.uda_unlabelled(logits[4:16], logits[16:], 0.5, 0.165)
    np.testing.assert_allclose(value, supervised + 2.0 * consistency, rtol=1e-5)
    assert float(aux.metrics["tsa_threshold"]) == pytest.approx(eta)
    assert float(aux.metrics["tsa_kept"]) == pytest.approx(float(kept))
    assert float(aux.metrics["mask_rate"]) == pytest.approx(float(np.mean(confident)))
    assert 0 < float(np.mean(confident)) < 1
    expected_pseudo = np.where(confident, np.argmax(logits[4:16], -1), -1)
    np.testing.assert_array_equal(aux.pseudo_labels, np.concatenate([[-1] * 4, expected_pseudo]))
    assert aux.features.shape[0] == 16 and method.eval_weights == "target"


@pytest.mark.parametrize(
    "name, kwargs, message",
    [
        ("vat", dict(epsilon=0.0), r"vat's epsilon \(the perturbation's norm\) must be > 0, got 0.0"),
        ("vat", dict(epsilon=-8.0), r"vat's epsilon \(the perturbation's norm\) must be > 0, got -8.0"),
        ("vat", dict(xi=0.0), r"vat's xi \(the power iteration's finite difference\) must be > 0, got 0.0"),
        ("vat", dict(iterations=0), "vat's iterations .* must be an int >= 1, got 0"),
        (
            "uda",
            dict(tsa_schedule="cosine", tsa_steps=10),
            r"uda's tsa_schedule 'cosine' is not a training-signal annealing schedule; choose from "
            r"\['exp', 'linear', 'log', 'none'\]",
        ),
        ("uda", dict(threshold=1.0), r"uda's confidence threshold must lie in \[0, 1\), got 1.0"),
    ],
)
def test_bad_hyperparameters_are_one_clear_error_before_anything_compiles(name, kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        micro_semisup(name, **kwargs)


def test_vat_refuses_a_compute_dtype_that_does_not_resolve_its_finite_difference():
    context = MethodContext(
        backbone=models.make_backbone("resnet_micro"),
        image_mean=(0.5,),
        image_std=(0.25,),
        dtype=jnp.bfloat16,
        num_examples=64,
        global_batch=16,
        image_size=16,
        num_classes=10,
        labelled_batch=4,
    )
    with pytest.raises(ValueError, match=r"moves the input by xi = 0.001, which bfloat16 does not resolve"):
        METHODS["vat"](context)
