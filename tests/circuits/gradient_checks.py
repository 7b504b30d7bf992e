"""What the spiking gradient checks share: central finite differences of an exact objective."""

import jax.numpy as jnp
import numpy as np


def central_differences(exact, params: dict, h: float = 1e-5) -> dict:
    """name -> (size,) central differences of ``exact(params)`` in each component of each
    parameter (run under ``jax.enable_x64`` for float64 steps)."""
    differences = {}
    for name, value in params.items():
        flat = np.asarray(value).ravel()
        grad = np.zeros_like(flat)
        for i in range(flat.size):
            step = np.zeros_like(flat)
            step[i] = h
            up = {**params, name: jnp.asarray((flat + step).reshape(value.shape))}
            down = {**params, name: jnp.asarray((flat - step).reshape(value.shape))}
            grad[i] = (float(exact(up)) - float(exact(down))) / (2 * h)
        differences[name] = grad
    return differences
