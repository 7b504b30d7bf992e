"""Wall time of the closed-form optimum of linear circuits (``circuits.optimum``).

Task: a linear-Gaussian task with K = 16 latents and D = 64 inputs (A i.i.d. N(0, 1), noise
sd 1, identity prior), population moments of x. For every architecture and both charges:
seconds to the optimum (one random start, L-BFGS in double precision, JIT compilation
included, as a user sees it) and the optimum's KL / mean-field floor. The local-costs issue
asks for under 10 s on 2 cores.
"""

from __future__ import annotations

import time

import numpy as np


def run(quick: bool) -> list[dict]:
    import jax

    from analysis.compare import gaussian_kl, mean_field_kl_floor
    from analysis.generative import LinearGaussian
    from circuits import FeedforwardCircuit, LogCost, Objective, RecurrentCircuit
    from circuits.optimum import optimal_circuit, response_moments

    n_latent, n_input = (4, 8) if quick else (16, 64)
    rng = np.random.default_rng(1)
    task = LinearGaussian(rng.normal(size=(n_input, n_latent)), 1.0)
    x = task.sample(20, rng)[1]
    posterior = task.posterior(x)
    floor = mean_field_kl_floor(task.posterior_precision)
    circuits = {"single-layer": FeedforwardCircuit(n_input, n_latent),
                "multi-layer": FeedforwardCircuit(n_input, n_latent, n_hidden=2 * n_latent),
                "recurrent": RecurrentCircuit(n_input, n_latent)}
    rows = []
    for architecture, circuit in circuits.items():
        for charge in ("responses", "local"):
            objective = Objective.for_linear_gaussian(task.A, task.noise_std, task.prior_cov, LogCost(), charge=charge)
            started = time.perf_counter()
            params, terms = optimal_circuit(circuit, objective, np.zeros(n_input), task.marginal_cov,
                                            jax.random.PRNGKey(0), restarts=1)
            seconds = time.perf_counter() - started
            with jax.enable_x64(True):
                moments = {k: np.asarray(v) for k, v in response_moments(circuit, params).items()}
            mean = x @ moments["weights"].T + moments["bias"]
            kl = float(np.median(gaussian_kl(mean, moments["covariance"], posterior.mean, posterior.cov)))
            rows.append({"K": n_latent, "D": n_input, "architecture": architecture, "charge": charge,
                         "seconds": seconds, "objective": terms["loss"], "kl_floor_ratio": kl / floor,
                         "under_10_s": seconds < 10})
    return rows
