"""Effective samples per second across posterior sizes and condition numbers (issue 20):
``python -m benchmarks sampling``.

Targets: the linear-Gaussian task whose posterior precision H = I + A^T A / s^2 has
eigenvalues spaced geometrically from 1 to the condition number, in a random orthonormal
basis (``linear_gaussian_task``); each sampler draws from the posterior given one input.

Samplers, all in JAX on one machine, batched chains of ``CHAINS`` (NUTS: ``NUTS_CHAINS``):
- trained recurrent circuit: ``circuits.recurrent.RecurrentCircuit`` trained by the package's
  ``train`` (log cost) for ``TRAINED_STEPS[K]`` steps: 2000 up to K = 64, 300 at K = 256, where
  one step takes about a second on 2 cores (``python -m benchmarks scale``); the row's name says
  how many, and its stationary KL how far that budget got;
- Langevin circuit: the reversible circuit W = I - diag(1/H_ii) H, noise variance 1/H_ii;
- optimal irreversible circuit: the same noise, plus the antisymmetric drift of Lelievre,
  Nier & Pavliotis (2013) in the noise's metric (``analysis.linear_samplers``), every
  eigenvalue of its drift 1/tau (``analysis.linear_samplers.circuit_drift``); it needs self-couplings, which
  ``RecurrentCircuit`` does not have, so it runs as its Euler update;
- Gibbs: systematic scan, exact conditionals, one sweep = one draw;
- MALA: identity preconditioner, step adapted in warm-up to acceptance 0.574 (Roberts &
  Rosenthal 1998);
- NUTS: NumPyro's kernel with its default diagonal mass-matrix and step-size adaptation.
Circuits run Euler-Maruyama with dt = 1 ms, tau = 20 ms, as the package simulates them, but
through the benchmark's own loop (one matrix product and one key split per step, like every
other sampler here), not ``RecurrentCircuit.simulate``, whose block-drawn noise is faster.

Per sampler: bulk and tail ESS (arviz-stats, minimum over latents) per wall second of
sampling (compilation excluded: every program is compiled ahead of time), bulk ESS per tau
of one trial for circuits, the exact asymptotic ESS of the linear samplers' means (chains x
steps / the largest integrated autocorrelation time,
``analysis.linear_samplers.integrated_autocorrelation_steps``: a check on the estimate), the
stationary bias (exact KL from the sampler's stationary distribution to
the posterior: the Euler bias of a circuit, the training error of the trained one; 0 for
Gibbs, MALA and NUTS, exact in the limit), the largest split R-hat, and the time to a first
independent draw from a cold start (rest, z = 0): for the linear samplers (circuits, Gibbs)
the exact number of steps until the KL from the marginal to the stationary distribution is
below ``COLD_START_KL`` nats (``analysis.linear_samplers.steps_to_stationarity``) times the
measured step time; for MALA and NUTS the measured wall time of their warm-up.

Run length: a pilot of ``PILOT_STEPS`` unthinned steps times a step and estimates the
integrated autocorrelation time; the timed run then fills ``SECONDS_PER_SAMPLER`` with
draws thinned by half that time (thinning by less than the autocorrelation time costs little
ESS), or more where the draws would exceed ``MAX_RECORDED_FLOATS``.
"""

from __future__ import annotations

import math
import time

import numpy as np

SIZES = (4, 16, 64, 256)
CONDITIONS = (10.0, 100.0, 1000.0)
CHAINS = 64
NUTS_CHAINS = 4
TAU, DT = 0.02, 0.001
COLD_START_KL = 0.01
PILOT_STEPS = 500
MAX_RECORDED_FLOATS = 1 << 25  # 128 MiB of float32 draws per run
SECONDS_PER_SAMPLER = 4.0
TRAINED_STEPS = {4: 2000, 16: 2000, 64: 2000, 256: 300}
MALA_WARMUP, NUTS_WARMUP = 1000, 500
MALA_TARGET_ACCEPT = 0.574


def linear_gaussian_task(n_latent: int, condition: float, seed: int = 0):
    """The target task (``simulations.tasks.conditioned_linear_gaussian``)."""
    from simulations.tasks import conditioned_linear_gaussian

    return conditioned_linear_gaussian(n_latent, condition, seed)


def _ess(draws: np.ndarray) -> dict:
    """draws (chain, draw, K): min over latents of bulk and tail ESS, max split R-hat."""
    from arviz_stats.base import array_stats

    series = np.moveaxis(np.asarray(draws, dtype=float), -1, 0)
    return {"ess_bulk": float(np.min(array_stats.ess(series, chain_axis=1, draw_axis=2, method="bulk"))),
            "ess_tail": float(np.min(array_stats.ess(series, chain_axis=1, draw_axis=2, method="tail", prob=0.05))),
            "max_rhat": float(np.max(array_stats.rhat(series, chain_axis=1, draw_axis=2)))}


def _compiled(function, *args):
    """Ahead-of-time compiled ``function`` for these argument shapes (compile time not timed)."""
    import jax

    return jax.jit(function).lower(*args).compile()


def _timed_call(compiled, *args):
    import jax

    started = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    return out, time.perf_counter() - started


def _thinned_chain(step, n_draws: int, thin: int):
    """(state, key) -> (final state, records (draw, ...)): ``n_draws * thin`` applications of
    ``step(state, key)``, the state's ``record`` kept every ``thin`` steps."""
    import jax

    def run(state, key):
        def record(state, record_key):
            state, _ = jax.lax.scan(lambda s, k: (step(s, k), None), state, jax.random.split(record_key, thin))
            return state, state["record"]

        return jax.lax.scan(record, state, jax.random.split(key, n_draws))

    return run


def _run_budgeted(step, state, key, seconds: float, steps: int | None = None) -> dict:
    """Pilot, then a timed, thinned run of ``step`` filling ``seconds`` (module docstring), or
    of ``steps`` steps where given (a run whose draws do not depend on the machine's speed)."""
    import jax

    pilot_key, run_key = jax.random.split(key)
    pilot = _compiled(_thinned_chain(step, PILOT_STEPS, 1), state, pilot_key)
    (state, records), pilot_s = _timed_call(pilot, state, pilot_key)
    pilot_draws = np.swapaxes(np.asarray(records), 0, 1)
    n_chains = pilot_draws.shape[0]
    autocorrelation_steps = n_chains * PILOT_STEPS / max(_ess(pilot_draws)["ess_bulk"], 1.0)
    step_s = pilot_s / PILOT_STEPS
    total_steps = max(int(seconds / step_s), 4 * PILOT_STEPS) if steps is None else steps
    max_draws = MAX_RECORDED_FLOATS // pilot_draws[:, 0].size  # floats per recorded draw: chains x K
    thin = max(1, int(0.5 * autocorrelation_steps), math.ceil(total_steps / max_draws))
    n_draws = max(total_steps // thin, 4)
    program = _compiled(_thinned_chain(step, n_draws, thin), state, run_key)
    (_, records), wall_s = _timed_call(program, state, run_key)
    return {"draws": np.swapaxes(np.asarray(records), 0, 1), "wall_s": wall_s, "steps": n_draws * thin,
            "thin": thin, "step_s": wall_s / (n_draws * thin)}


# -- linear samplers: circuits and Gibbs ---------------------------------------------------

def _linear_step(update, offset, noise_sd):
    import jax

    def step(state, key):
        z = state["record"]
        return {"record": z @ update.T + offset + noise_sd * jax.random.normal(key, z.shape)}

    return step


def _euler(drift, noise_variance, posterior_mean) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The circuit's Euler-Maruyama step as (F, c, noise covariance)."""
    from analysis.linear_samplers import euler_update

    update, noise_cov = euler_update(drift, noise_variance, DT / TAU)
    return update, (DT / TAU) * drift @ np.asarray(posterior_mean, dtype=float), noise_cov


def gibbs_update(posterior_mean, precision) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One systematic-scan Gibbs sweep on N(m, H^-1) as the linear map it is:
    z' = G z + g + N e for the sweep's standard normals e (one per coordinate). Returns
    (G, g, N). Coordinate k is set, in order k = 1..K, to
    m_k - sum_{j != k} H_kj (z_j - m_j) / H_kk + e_k / sqrt(H_kk)."""
    h = np.asarray(precision, dtype=float)
    mean = np.asarray(posterior_mean, dtype=float)
    size = len(h)
    linear, loading = np.eye(size), np.zeros((size, size))  # rows: coordinate k as a function of (z, e)
    for k in range(size):
        row = -h[k] / h[k, k]
        row[k] = 0.0
        linear[k] = row @ linear
        loading[k] = row @ loading
        loading[k, k] += 1.0 / np.sqrt(h[k, k])
    return linear, mean - linear @ mean, loading


def _gibbs_step(posterior_mean, precision):
    import jax
    import jax.numpy as jnp

    h = jnp.asarray(precision, dtype=jnp.float32)
    mean = jnp.asarray(posterior_mean, dtype=jnp.float32)
    diagonal = jnp.diag(h)

    def step(state, key):
        eps = jax.random.normal(key, state["record"].shape)

        def coordinate(k, z):
            others = (z - mean) @ h[k] - diagonal[k] * (z[:, k] - mean[k])
            return z.at[:, k].set(mean[k] - others / diagonal[k] + eps[:, k] / jnp.sqrt(diagonal[k]))

        return {"record": jax.lax.fori_loop(0, h.shape[0], coordinate, state["record"])}

    return step


def _linear_row(name, update, offset, noise_cov, posterior, seconds, key, per_tau: bool,
                steps: int | None = None, step=None) -> dict:
    """Run a linear sampler z' = F z + c + noise from an exact stationary draw; its stationary
    moments and cold-start steps are exact (discrete Lyapunov). ``step`` simulates it (default:
    the matrix product with diagonal noise of a circuit; Gibbs passes its coordinate sweep)."""
    import jax
    import jax.numpy as jnp
    from scipy.linalg import solve_discrete_lyapunov

    from analysis.compare import gaussian_kl
    from analysis.linear_samplers import integrated_autocorrelation_steps, steps_to_stationarity

    size = len(update)
    stationary_mean = np.linalg.solve(np.eye(size) - update, offset)
    stationary_cov = solve_discrete_lyapunov(update, noise_cov)
    start_key, run_key = jax.random.split(key)
    start = stationary_mean + np.asarray(jax.random.normal(start_key, (CHAINS, size))) @ np.linalg.cholesky(
        stationary_cov).T
    if step is None:
        step = _linear_step(jnp.asarray(update, jnp.float32), jnp.asarray(offset, jnp.float32),
                            jnp.asarray(np.sqrt(np.diag(noise_cov)), jnp.float32))
    run = _run_budgeted(step, {"record": jnp.asarray(start, jnp.float32)}, run_key, seconds, steps)
    cold_steps = steps_to_stationarity(update, stationary_mean, stationary_cov, np.zeros(size), COLD_START_KL)
    row = {"sampler": name, **_summary(run), "cold_start_steps": cold_steps,
           "cold_start_s": cold_steps * run["step_s"],
           "stationary_kl": float(gaussian_kl(stationary_mean, stationary_cov, posterior.mean[0], posterior.cov)),
           "exact_ess": run["draws"].shape[0] * run["steps"]
                        / integrated_autocorrelation_steps(update, stationary_cov).max()}
    if per_tau:  # per circuit (chain): effective samples in one time constant of one trial
        simulated_taus = row["chains"] * run["steps"] * DT / TAU
        row["ess_bulk_per_tau"] = row["ess_bulk"] / simulated_taus
        row["exact_ess_per_tau"] = row["exact_ess"] / simulated_taus
    return row


def _summary(run: dict) -> dict:
    ess = _ess(run["draws"])
    return {"chains": run["draws"].shape[0], "steps": run["steps"], "thin": run["thin"], "wall_s": run["wall_s"],
            **ess, "ess_bulk_per_s": ess["ess_bulk"] / run["wall_s"], "ess_tail_per_s": ess["ess_tail"] / run["wall_s"]}


def _circuit_row(name, circuit, params, x, posterior, seconds, key) -> dict:
    """A RecurrentCircuit (linear) driven by the constant input x (1, D)."""
    import jax.numpy as jnp

    x = jnp.asarray(x, jnp.float32)
    update = np.asarray(circuit.euler_matrix(params), dtype=float)
    offset = (DT / TAU) * np.asarray(circuit.input_drive(params, x), dtype=float)[0]
    noise_cov = np.diag(np.asarray(circuit._noise_scale(params), dtype=float) ** 2)
    return _linear_row(name, update, offset, noise_cov, posterior, seconds, key, per_tau=True)


def _trained_circuit(task, seed: int, steps: int):
    import jax

    from circuits import LogCost, Objective, TrainingConfig, train
    from circuits.recurrent import RecurrentCircuit

    circuit = RecurrentCircuit(task.n_obs, task.n_latent, tau=TAU, dt=DT)
    _, train_x = task.sample(10_000, np.random.default_rng(seed))
    objective = Objective.for_linear_gaussian(task.A, task.noise_std, task.prior_cov, LogCost())
    started = time.perf_counter()
    params, _ = train(circuit, objective, train_x, jax.random.PRNGKey(seed), TrainingConfig(steps=steps),
                      progress=False)
    return circuit, params, time.perf_counter() - started


# -- MALA and NUTS -------------------------------------------------------------------------

def _mala_step(posterior_mean, precision, log_step):
    import jax
    import jax.numpy as jnp

    h = jnp.asarray(precision, dtype=jnp.float32)
    mean = jnp.asarray(posterior_mean, dtype=jnp.float32)

    def log_density_and_gradient(z):
        centred = z - mean
        gradient = -centred @ h
        return 0.5 * jnp.sum(centred * gradient, -1), gradient

    def step(state, key):
        z, step_size = state["record"], jnp.exp(state["log_step"])
        noise_key, accept_key = jax.random.split(key)
        log_p, gradient = log_density_and_gradient(z)
        proposal = z + step_size * gradient + jnp.sqrt(2 * step_size) * jax.random.normal(noise_key, z.shape)
        log_p_new, gradient_new = log_density_and_gradient(proposal)
        forward = -jnp.sum((proposal - z - step_size * gradient) ** 2, -1) / (4 * step_size)
        backward = -jnp.sum((z - proposal - step_size * gradient_new) ** 2, -1) / (4 * step_size)
        accept_probability = jnp.minimum(1.0, jnp.exp(log_p_new + backward - log_p - forward))
        accepted = jax.random.uniform(accept_key, accept_probability.shape) < accept_probability
        new = {"record": jnp.where(accepted[:, None], proposal, z), "log_step": state["log_step"]}
        if log_step is None:  # warm-up: Robbins-Monro on log step toward the target acceptance
            new["log_step"] = state["log_step"] + 0.05 * (jnp.mean(accept_probability) - MALA_TARGET_ACCEPT)
        return new

    return step


def _mala_row(posterior, seconds, key) -> dict:
    import jax
    import jax.numpy as jnp

    precision = np.linalg.inv(posterior.cov)
    size = len(precision)
    warmup_key, run_key = jax.random.split(key)
    state = {"record": jnp.zeros((CHAINS, size), jnp.float32),
             "log_step": jnp.asarray(np.log(1.0 / np.linalg.eigvalsh(precision).max()), jnp.float32)}
    warmup = _compiled(_thinned_chain(_mala_step(posterior.mean[0], precision, None), MALA_WARMUP, 1), state,
                       warmup_key)
    (state, _), warmup_s = _timed_call(warmup, state, warmup_key)
    run = _run_budgeted(_mala_step(posterior.mean[0], precision, state["log_step"]), state, run_key, seconds)
    return {"sampler": "MALA (adapted step)", **_summary(run), "cold_start_steps": MALA_WARMUP,
            "cold_start_s": warmup_s, "stationary_kl": 0.0, "step_size": float(jnp.exp(state["log_step"]))}


def _nuts_row(posterior, seconds, key) -> dict:
    import jax
    import jax.numpy as jnp
    from numpyro.infer.hmc import hmc

    precision = jnp.asarray(np.linalg.inv(posterior.cov), jnp.float32)
    mean = jnp.asarray(posterior.mean[0], jnp.float32)
    size = len(mean)

    def potential(z):
        return 0.5 * (z - mean) @ precision @ (z - mean)

    init_kernel, sample_kernel = hmc(potential_fn=potential, algo="NUTS")

    def warm_up(keys):
        def one_chain(chain_key):
            state = init_kernel(jnp.zeros(size), num_warmup=NUTS_WARMUP, rng_key=chain_key)
            return jax.lax.fori_loop(0, NUTS_WARMUP, lambda _, s: sample_kernel(s), state)

        return jax.vmap(one_chain)(keys)

    def draw(states, n_draws):
        def one_chain(state):
            return jax.lax.scan(lambda s, _: (sample_kernel(s), (s.z, s.num_steps)), state, None, length=n_draws)[1]

        return jax.vmap(one_chain)(states)

    keys = jax.random.split(key, NUTS_CHAINS)
    (states, warmup_s) = _timed_call(_compiled(warm_up, keys), keys)
    pilot = _compiled(lambda s: draw(s, 50), states)
    _, pilot_s = _timed_call(pilot, states)
    n_draws = int(np.clip(seconds / (pilot_s / 50), 100, MAX_RECORDED_FLOATS // (NUTS_CHAINS * size)))
    (draws, leapfrogs), wall_s = _timed_call(_compiled(lambda s: draw(s, n_draws), states), states)
    run = {"draws": np.asarray(draws), "wall_s": wall_s, "steps": n_draws, "thin": 1}
    return {"sampler": "NUTS (NumPyro, diagonal mass)", **_summary(run), "cold_start_steps": NUTS_WARMUP,
            "cold_start_s": warmup_s, "stationary_kl": 0.0, "mean_leapfrog_steps": float(np.mean(leapfrogs))}


# -- the grid --------------------------------------------------------------------------------

def cell(n_latent: int, condition: float, seconds: float, trained_steps: int, seed: int = 0) -> list[dict]:
    """Every sampler on the posterior of one (K, condition number) task."""
    import jax

    from analysis.linear_samplers import circuit_drift

    task = linear_gaussian_task(n_latent, condition, seed)
    _, x = task.sample(1, np.random.default_rng(seed + 1))
    posterior = task.posterior(x)
    keys = jax.random.split(jax.random.PRNGKey(seed), 6)
    rows = []
    if trained_steps:
        circuit, params, training_s = _trained_circuit(task, seed, trained_steps)
        rows.append({**_circuit_row(f"trained recurrent circuit ({trained_steps} steps)", circuit, params, x, posterior,
                                    seconds, keys[0]), "training_s": training_s})
    for name, irreversible, key in (("Langevin circuit (reversible)", False, keys[1]),
                                    ("optimal irreversible circuit", True, keys[2])):
        update, offset, noise_cov = _euler(*circuit_drift(task.posterior_precision, irreversible),
                                           posterior.mean[0])
        rows.append(_linear_row(name, update, offset, noise_cov, posterior, seconds, key, per_tau=True))
    update, offset, loading = gibbs_update(posterior.mean[0], task.posterior_precision)
    rows.append(_linear_row("Gibbs (exact conditionals)", update, offset, loading @ loading.T, posterior, seconds,
                            keys[3], per_tau=False,
                            step=_gibbs_step(posterior.mean[0], task.posterior_precision)))
    rows.append(_mala_row(posterior, seconds, keys[4]))
    rows.append(_nuts_row(posterior, seconds, keys[5]))
    for row in rows:
        row.update({"K": n_latent, "condition": condition})
    return rows


def winners(rows: list[dict], bias_bar: float = COLD_START_KL) -> list[dict]:
    """For each (K, condition): the sampler with the most bulk ESS per wall second, and the
    best among those whose stationary KL to the posterior is at most ``bias_bar`` nats."""
    out = []
    for key in sorted({(row["K"], row["condition"]) for row in rows}):
        group = [row for row in rows if (row["K"], row["condition"]) == key]
        fastest = max(group, key=lambda row: row["ess_bulk_per_s"])
        accurate = [row for row in group if row["stationary_kl"] <= bias_bar]
        best = max(accurate, key=lambda row: row["ess_bulk_per_s"])
        out.append({"K": key[0], "condition": key[1], "fastest": fastest["sampler"],
                    "fastest_ess_bulk_per_s": fastest["ess_bulk_per_s"],
                    "fastest_stationary_kl": fastest["stationary_kl"], "fastest_within_bias_bar": best["sampler"],
                    "its_ess_bulk_per_s": best["ess_bulk_per_s"]})
    return out


def run(quick: bool) -> list[dict]:
    from tqdm.auto import tqdm

    sizes, conditions = ((4,), (10.0,)) if quick else (SIZES, CONDITIONS)
    seconds = 0.2 if quick else SECONDS_PER_SAMPLER
    grid = [(k, c) for k in sizes for c in conditions]
    rows = []
    for n_latent, condition in tqdm(grid, desc="sampling grid", leave=False):
        rows += cell(n_latent, condition, seconds, 50 if quick else TRAINED_STEPS[n_latent])
    return rows
