"""InstDisc / NPID (Wu et al. 2018): every image is its own class, scored against a memory bank."""

import jax

from jaxssl import losses
from jaxssl.methods.forward import forward_views
from jaxssl.methods.memory import held_log_normalizer, random_bank
from jaxssl.methods.method import LossAux, LossInputs, Method, MethodContext
from jaxssl.models.heads import MLP


def make(
    context: MethodContext,
    *,
    projection_dim: int = 128,
    temperature: float = 0.07,
    memory_momentum: float = 0.5,
    num_negatives: int = 4096,
) -> Method:
    """One view per image, a linear projection to 128-d unit features v (section 3.1). The memory bank in
    state.extra holds one unit feature per training image (its rows padded past them to sharding.padded_rows,
    so that it splits over the devices; nothing reads the padding); after each step the rows of the batch move
    to normalize(m row + (1 - m) v) with m = 0.5 (section 3.4).

    num_negatives > 0: NCE with that many uniformly sampled negatives per example (eq. 3-6), the constant Z
    estimated on the first step and then held fixed (stored in state.extra, as the paper does).
    num_negatives = 0: the exact non-parametric softmax over the whole bank (eq. 2), affordable on small data;
    state.extra then holds the bank alone.
    """
    network = context.network(MLP(hidden_dims=(), out_dim=projection_dim, dtype=context.dtype))
    num_examples = context.num_examples

    def objective(v, extra, indices, key):
        """(loss, the method's memory besides the bank: the NCE normaliser to keep) for features v."""
        bank = extra["bank"]
        if not num_negatives:
            return losses.instdisc_softmax(v, bank, indices, temperature, num_examples), {}
        negatives = jax.random.randint(key, (v.shape[0], num_negatives), 0, num_examples)
        estimate = losses.nce_log_normalizer(
            jax.lax.stop_gradient(v), bank, negatives, temperature, num_examples
        )
        log_z = held_log_normalizer(extra["log_z"], estimate)
        value = losses.instdisc_nce(v, bank, indices, negatives, temperature, log_z, num_examples)
        return value, {"log_z": jax.lax.stop_gradient(log_z)}

    def loss(params, inputs: LossInputs):
        (out,), batch_stats = forward_views(
            network, params, inputs.batch_stats, inputs.views[:1], key=inputs.key
        )
        value, normalizer = objective(out["projection"], inputs.extra, inputs.indices, inputs.key)
        bank = losses.memory_update(inputs.extra["bank"], inputs.indices, out["projection"], memory_momentum)
        return value, LossAux(
            batch_stats=batch_stats,
            metrics={"instdisc": value},
            features=out["features"],
            extra={"bank": bank, **normalizer},
        )

    return Method(
        name="instdisc",
        network=network,
        loss=loss,
        init_extra=lambda key: random_bank(key, num_examples, projection_dim, nce=num_negatives > 0),
        memories=(("bank", 0),),
    )
