"""JAX's random-number generators in the recurrent circuit's simulation: speed and quality.

For each of JAX's PRNG implementations (``threefry2x32``, the default; ``rbg``;
``unsafe_rbg``), with keys made by ``jax.random.key(seed, impl=...)``:
- ``normals_s``: drawing the simulation's noise alone, a (B, N) block of standard normals per
  step for ``steps`` steps (one split per step, as the simulation draws it), compiled;
- ``simulation_s``: the whole ``RecurrentCircuit.simulate`` of N neurons and B trials;
- ``gemm_s``: NumPy's float32 (B, N) x (N, N) product for the same steps, the limit;
timed interleaved (one run of each in turn, ``rounds`` times, best of each), so that the
ratios compare runs made under the same machine load. ``rng_share`` = normals_s /
simulation_s; ``ours_over_gemm`` = gemm_s / simulation_s (1 is the limit).

Quality (``max_abs_z``): z-scores of the sample mean, variance, skewness and excess kurtosis
of ``n_draws`` normals against 0, 1, 0, 0 (standard errors 1, sqrt(2), sqrt(6), sqrt(24)
over sqrt(n)), and of the correlation between blocks drawn from consecutive split keys
(standard error 1 / sqrt(n)). A fair generator gives |z| > 4.5 in one of the five with
probability 3e-5.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.rate_throughput import DT, SIGMA, TAU, _weights, gemm_products

IMPLEMENTATIONS = ("threefry2x32", "rbg", "unsafe_rbg")


def moment_z_scores(draws, next_draws) -> dict:
    """z-scores of standard-normal moments of ``draws`` (any shape, flattened) and of their
    correlation with ``next_draws`` (the same shape, drawn from the next key)."""
    x = np.asarray(draws, dtype=np.float64).ravel()
    y = np.asarray(next_draws, dtype=np.float64).ravel()
    n = x.size
    root = np.sqrt(n)
    return {"mean": x.mean() * root, "variance": (np.mean(x**2) - 1.0) * root / np.sqrt(2.0),
            "skewness": np.mean(x**3) * root / np.sqrt(6.0), "kurtosis": (np.mean(x**4) - 3.0) * root / np.sqrt(24.0),
            "correlation": np.mean(x * y) * root}


def _draw_normals(impl: str, n: int, b: int, steps: int):
    import jax
    import jax.numpy as jnp

    @jax.jit
    def draw(key):
        def step(total, step_key):
            return total + jnp.sum(jax.random.normal(step_key, (b, n))), None
        return jax.lax.scan(step, jnp.zeros(()), jax.random.split(key, steps))[0]

    key = jax.random.key(1, impl=impl)
    draw(key).block_until_ready()
    return lambda: draw(key).block_until_ready()


def _simulate(impl: str, n: int, b: int, steps: int):
    import jax
    import jax.numpy as jnp

    from circuits.recurrent import RecurrentCircuit

    circuit = RecurrentCircuit(n_input=1, n_output=n, tau=TAU, dt=DT)
    params = circuit.init(jax.random.PRNGKey(0), noise_std=SIGMA)
    params["recurrent_weights"] = jnp.asarray(_weights(n))
    run = jax.jit(lambda key: circuit.simulate(params, jnp.zeros((1, 1)), key, b, steps))
    key = jax.random.key(2, impl=impl)
    run(key).block_until_ready()
    return lambda: run(key).block_until_ready()


def quality(impl: str, n_draws: int) -> dict:
    import jax

    first, second = jax.random.split(jax.random.key(3, impl=impl))
    return moment_z_scores(jax.random.normal(first, (n_draws,)), jax.random.normal(second, (n_draws,)))


def run(quick: bool) -> list[dict]:
    n, b = (64, 16) if quick else (512, 256)
    steps = 20 if quick else 500
    rounds = 1 if quick else 5
    n_draws = 10**5 if quick else 10**7
    engines = {impl: (_draw_normals(impl, n, b, steps), _simulate(impl, n, b, steps)) for impl in IMPLEMENTATIONS}
    gemm = gemm_products(n, b, steps)
    gemm()
    best = {}
    for _ in range(rounds):
        for name, function in [("gemm", gemm)] + [(f"{impl}/{part}", engines[impl][index])
                                                  for impl in IMPLEMENTATIONS
                                                  for index, part in enumerate(("normals", "simulation"))]:
            started = time.perf_counter()
            function()
            best[name] = min(best.get(name, np.inf), time.perf_counter() - started)
    rows = []
    for impl in IMPLEMENTATIONS:
        z = quality(impl, n_draws)
        normals, simulation = best[f"{impl}/normals"], best[f"{impl}/simulation"]
        rows.append({"impl": impl, "N": n, "B": b, "steps": steps, "normals_s": normals, "simulation_s": simulation,
                     "gemm_s": best["gemm"], "rng_share": normals / simulation,
                     "ours_over_gemm": best["gemm"] / simulation, "n_draws": n_draws,
                     "max_abs_z": max(abs(value) for value in z.values())})
    return rows
