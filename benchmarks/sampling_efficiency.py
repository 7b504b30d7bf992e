"""Effective samples per second: the recurrent circuit as a sampler of the linear-Gaussian
posterior against exact reference samplers of the same posterior.

The circuit is the Langevin circuit of the posterior N(m, H^-1) (``circuits.recurrent``):
W = I - diag(sigma^2) H, sigma_i^2 = 1 / H_ii, input drive = diag(sigma^2) H m, simulated
by Euler-Maruyama (dt = 1 ms, tau = 20 ms) and read every step. References, each run as a
batch of chains in NumPy: systematic-scan Gibbs (exact conditionals) and unadjusted
Langevin on the same posterior with the same step. Accuracy: the exact KL from each
sampler's stationary distribution to the posterior (0 for Gibbs; the Euler bias for the
circuit). ESS is arviz-stats' (method "mean"), minimum over latents; "equal accuracy"
compares the wall time each needs for 1,000 effective samples of every latent.
"""

from __future__ import annotations

import numpy as np

from benchmarks._common import timed

N_LATENT, N_INPUT = 4, 8


def _posterior(seed: int = 0):
    from analysis.generative import LinearGaussian

    rng = np.random.default_rng(seed)
    task = LinearGaussian(rng.normal(size=(N_INPUT, N_LATENT)), 1.0)
    _, x = task.sample(1, rng)
    return task.posterior(x), task.posterior_precision


def _ess_per_second(samples: np.ndarray, seconds: float) -> float:
    """samples (chain, draw, K)."""
    from analysis.variability import effective_sample_size

    ess = effective_sample_size(np.moveaxis(samples, -1, 0), chain_axis=1, draw_axis=2)
    return float(np.min(ess) / seconds)


def circuit(n_chains: int, n_steps: int, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp

    from analysis.compare import gaussian_kl
    from circuits.recurrent import RecurrentCircuit

    posterior, H = _posterior()
    sigma2 = 1.0 / np.diag(H)
    model = RecurrentCircuit(n_input=1, n_output=N_LATENT)
    params = {"input_weights": jnp.asarray((sigma2 * (H @ posterior.mean[0]))[:, None]),
              "input_bias": jnp.zeros(N_LATENT),
              "recurrent_weights": jnp.asarray(np.eye(N_LATENT) - sigma2[:, None] * H),
              "log_noise_std": jnp.asarray(0.5 * np.log(sigma2))}
    x = jnp.ones((1, 1))
    run = jax.jit(lambda key: model.simulate(params, x, key, n_chains, n_steps, initial="stationary", record_from=0))
    run(jax.random.PRNGKey(0)).block_until_ready()
    timing = timed(lambda: run(jax.random.PRNGKey(1)).block_until_ready(), repeats)
    samples = np.asarray(run(jax.random.PRNGKey(1)))[0]  # (chain, draw, K)
    stationary = np.asarray(model.stationary_covariance(params), dtype=float)
    bias = float(gaussian_kl(np.asarray(model.fixed_point(params, x))[0], stationary, posterior.mean[0],
                             posterior.cov))
    return {"sampler": "recurrent circuit (JAX)", "chains": n_chains, "draws": n_steps, **timing,
            "ess_per_s": _ess_per_second(samples, timing["seconds_median"]), "stationary_kl": bias}


def gibbs(n_chains: int, n_steps: int, repeats: int) -> dict:
    posterior, H = _posterior()
    mean = posterior.mean[0]
    generator = np.random.default_rng(2)

    def sweep_all():
        z = np.tile(mean, (n_chains, 1))
        out = np.empty((n_chains, n_steps, N_LATENT))
        conditional_sd = 1.0 / np.sqrt(np.diag(H))
        for t in range(n_steps):
            for k in range(N_LATENT):  # z_k | z_-k ~ N(m_k - sum_j!=k H_kj (z_j - m_j) / H_kk, 1 / H_kk)
                others = (z - mean) @ H[k] - H[k, k] * (z[:, k] - mean[k])
                z[:, k] = mean[k] - others / H[k, k] + conditional_sd[k] * generator.standard_normal(n_chains)
            out[:, t] = z
        return out

    samples = sweep_all()
    timing = timed(sweep_all, repeats)
    return {"sampler": "Gibbs, exact conditionals (NumPy)", "chains": n_chains, "draws": n_steps, **timing,
            "ess_per_s": _ess_per_second(samples, timing["seconds_median"]), "stationary_kl": 0.0}


def langevin(n_chains: int, n_steps: int, repeats: int, step: float = 0.05) -> dict:
    """Unadjusted Langevin with preconditioner diag(1/H_ii): the circuit's own dynamics in NumPy."""
    from scipy.linalg import solve_discrete_lyapunov

    from analysis.compare import gaussian_kl

    posterior, H = _posterior()
    mean = posterior.mean[0]
    sigma2 = 1.0 / np.diag(H)
    update = np.eye(N_LATENT) - step * sigma2[:, None] * H
    noise = np.sqrt(2 * step * sigma2)
    generator = np.random.default_rng(3)

    def chain():
        z = np.tile(mean, (n_chains, 1))
        out = np.empty((n_chains, n_steps, N_LATENT))
        for t in range(n_steps):
            z = mean + (z - mean) @ update.T + noise * generator.standard_normal((n_chains, N_LATENT))
            out[:, t] = z
        return out

    samples = chain()
    timing = timed(chain, repeats)
    stationary = solve_discrete_lyapunov(update, np.diag(noise**2))
    bias = float(gaussian_kl(mean, stationary, mean, posterior.cov))
    return {"sampler": "unadjusted Langevin (NumPy loop)", "chains": n_chains, "draws": n_steps, **timing,
            "ess_per_s": _ess_per_second(samples, timing["seconds_median"]), "stationary_kl": bias}


def run(quick: bool) -> list[dict]:
    chains, steps, repeats = (4, 500, 1) if quick else (64, 20_000, 3)
    rows = [circuit(chains, steps, repeats), gibbs(chains, steps // 10 if not quick else steps, repeats),
            langevin(chains, steps, repeats)]
    for row in rows:
        row["seconds_for_1000_ess"] = 1000.0 / row["ess_per_s"]
    return rows
