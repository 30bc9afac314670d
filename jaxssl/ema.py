"""Exponential moving average of parameters: the target network of BYOL, MoCo, DINO, Mean Teacher."""

import jax
import jax.numpy as jnp


def update(target, online, tau):
    """Returns tau * target + (1 - tau) * online, leaf by leaf (BYOL eq. (1): xi <- tau xi + (1 - tau) theta)."""
    return jax.tree.map(lambda t, o: tau * t + (1.0 - tau) * o.astype(t.dtype), target, online)


def cosine_tau(step, total_steps: int, base_tau: float):
    """BYOL's target decay, raised from base_tau to 1 with a cosine (Grill et al. 2020, section 3.2):

    tau(k) = 1 - (1 - base_tau) * (cos(pi k / K) + 1) / 2.
    """
    progress = jnp.clip(jnp.asarray(step, jnp.float32) / max(total_steps, 1), 0.0, 1.0)
    return 1.0 - (1.0 - base_tau) * (jnp.cos(jnp.pi * progress) + 1.0) / 2.0
