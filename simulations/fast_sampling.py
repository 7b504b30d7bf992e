"""Recurrent circuits that learn to sample fast (``sampling-circuits run fast-sampling``).

Task: the linear-Gaussian posterior of chosen size K and condition number
(``simulations.tasks.conditioned_linear_gaussian``; the task is drawn from ``task_seed``,
training from ``seed``). Circuit: the linear ``RecurrentCircuit`` (tau = 20 ms, dt = 1 ms,
no autapses) or, with ``inhibitory`` > 0, its E/I variant under Dale's law (K excitatory cells
read out, inhibitory cells with tau = 10 ms; Hennequin, Aitchison & Lengyel 2014), trained
under the negative ELBO with the log cost, charged on the responses.

Two objectives, one option (``start``):
``"spontaneous"`` (the fast-sampling objective)
    each trial starts in spontaneous activity (a stationary draw for a blank input) and the
    stimulus comes on at step 0; the responses scored are the first ``window`` tau after
    onset. For a linear circuit that starts with its stationary covariance, the expected
    score over the window is the mean over t of KL(p_t || posterior) plus constants, so a
    circuit whose mean moves slowly pays for it (the setting of Hennequin, Aitchison &
    Lengyel 2014).
``"stationary"`` (the control)
    each trial starts from the stationary distribution given the stimulus: the objective
    scores the stationary responses and is blind to speed.

Measures (all exact for the discrete-time linear circuit, in float64, except the empirical
check): the stationary KL to the posterior (mean over test stimuli); each neuron's
integrated autocorrelation time (``analysis.linear_samplers.integrated_autocorrelation_steps``)
and the effective samples per tau of one trial, (tau / dt) / max_i tau_i; the same for the
reversible Langevin circuit with the same stationary covariance S (noise 1 / (S^-1)_ii,
W = I - diag(noise^2) S^-1) and for the optimal irreversible circuit of that covariance
(Lelievre, Nier & Pavliotis 2013; ``analysis.linear_samplers.circuit_drift``), and the
ratio; the non-normality of the drift B = I - W (Henrici's departure, raw and in the
stationary metric S^-1/2 B S^1/2, where the reversible circuit's is 0) and its
irreversibility ||B S - S B^T||_F / ||B S + S B^T||_F (0 for a reversible circuit), with S
the continuous-time circuit's stationary covariance; the
time after onset until the response distribution is within 0.01 nats of its stationary one
(median over test stimuli), for the circuit and the Langevin circuit. The empirical check
simulates ``check_trials`` stationary trials for ``check_taus`` tau and estimates the ESS per
tau with arviz-stats at the slowest neuron, beside the exact value.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy.linalg import solve_discrete_lyapunov

from analysis.compare import gaussian_kl
from analysis.linear_samplers import (
    circuit_drift,
    euler_update,
    henrici_departure,
    integrated_autocorrelation_steps,
    stationary_covariance,
    steps_to_stationarity,
)
from analysis.variability import effective_sample_size
from circuits._validation import count, positive
from circuits.learning import WINDOW_STARTS, Objective, TrainingConfig, train
from circuits.recurrent import RecurrentCircuit
from circuits.reliability import LogCost
from simulations.results import new_dataset, parameter_variables, scalar, variable
from simulations.tasks import conditioned_linear_gaussian

__all__ = ["run_fast_sampling", "sampler_measures", "empirical_ess_per_tau", "ONSET_KL"]

#: KL (nats) to the stationary distribution at which a response distribution counts as settled.
ONSET_KL = 0.01
#: Euler steps simulated per training input and optimiser step (trials x window steps).
SIMULATED_STEPS_PER_INPUT = 640
PARAMETER_DIMS = {"input_weights": ("latent", "obs"), "input_bias": ("latent",),
                  "recurrent_weights": ("latent", "latent_"), "log_noise_std": ("latent",)}
#: The same for an E/I circuit, whose cells (excitatory first) outnumber the latents.
EI_PARAMETER_DIMS = {"input_weights": ("unit", "obs"), "input_bias": ("unit",),
                     "recurrent_weights": ("unit", "unit_"), "log_noise_std": ("unit",)}


def sampler_measures(update, noise_cov, step: float, readout: int | None = None) -> dict:
    """Speed and structure of a linear sampler z' = F z + c + noise (noise covariance
    ``noise_cov``, Euler step dt / tau = ``step``): its stationary covariance, integrated
    autocorrelation times (steps), effective samples per tau of one trial, and the
    non-normality and irreversibility of its drift B = (I - F) / step (module docstring),
    the last two in the metric of the continuous-time circuit's stationary covariance
    (B S + S B^T = 2 D, D = noise_cov / (2 step)), in which a reversible circuit's are 0.
    ``readout``: only the first ``readout`` coordinates are samples (the excitatory cells of
    an E/I circuit): the autocorrelation times and the ESS are theirs; the structure is the
    whole drift's."""
    f = np.asarray(update, dtype=float)
    stationary = solve_discrete_lyapunov(f, noise_cov)
    autocorrelation = integrated_autocorrelation_steps(f, stationary)[:readout]
    drift = (np.eye(len(f)) - f) / step
    continuous = stationary_covariance(drift, np.asarray(noise_cov, dtype=float) / (2 * step))
    root = np.linalg.cholesky(continuous)
    flux = drift @ continuous
    return {"stationary_cov": stationary, "autocorrelation_steps": autocorrelation,
            "ess_per_tau": float(1.0 / (step * autocorrelation.max())),
            "henrici": henrici_departure(drift),
            "henrici_stationary_metric": henrici_departure(np.linalg.solve(root, drift @ root)),
            "irreversibility": float(np.linalg.norm(flux - flux.T) / np.linalg.norm(flux + flux.T)),
            "drift_eigenvalues": np.linalg.eigvals(drift)}


def empirical_ess_per_tau(circuit, params, x, key, n_trials: int, taus: float, neuron: int) -> float:
    """Bulk ESS (arviz-stats) per tau of one trial of ``neuron``, from ``n_trials`` trials of
    ``taus`` tau started from the stationary distribution given x (1, D). The exact value's
    check: it is taken at the neuron with the longest exact autocorrelation time, not as a
    minimum over neurons, which would select the noisiest low estimate."""
    steps = int(round(taus * circuit.tau / circuit.dt))
    draws = np.asarray(circuit.simulate(params, jnp.asarray(x), key, n_trials, steps, initial="stationary",
                                        record_from=0), dtype=float)[0, :, :, neuron]
    return float(effective_sample_size(draws, chain_axis=0, draw_axis=1) / (n_trials * taus))


def _validate(n_latent, condition, window, start, steps, n_test, check_trials, check_taus, circuit) -> int:
    count("n_latent", n_latent, 2)
    positive("window", window)
    window_steps = int(round(window * circuit.tau / circuit.dt))
    if window_steps < 1:
        raise ValueError(f"window must be at least one step, dt / tau = {circuit.dt / circuit.tau:g}, got {window}")
    if start not in WINDOW_STARTS:
        raise ValueError(f"start must be one of {WINDOW_STARTS}, got {start!r}")
    count("steps", steps, 1)
    count("n_test", n_test, 1)
    count("check_trials", check_trials, 2)
    positive("check_taus", check_taus)
    return window_steps


def run_fast_sampling(seed: int, n_latent: int = 64, condition: float = 100.0, window: float = 10.0,
                      start: str = "spontaneous", steps: int = 3000, task_seed: int = 0, n_train: int = 10_000,
                      n_test: int = 16, check_trials: int = 64, check_taus: float = 100.0,
                      inhibitory: int = 0, progress: bool = True):
    """Train a linear recurrent circuit on a K-latent posterior of the given condition number
    and measure how fast it samples (module docstring).

    Parameters
    ----------
    seed : training seed (initialisation, minibatches, noise, test stimuli).
    n_latent, condition : K (>= 2) and the posterior's condition number (in (1, 1e6]).
    window : T, the scored window after stimulus onset, in units of tau (> 0; at least dt).
        The default, 10 tau = 200 ms, is a percept's few hundred milliseconds; at 2 tau the
        scored window ends before the responses settle, and training moved the stationary
        distribution far from the posterior (measured at K = 16: 127 nats).
    start : ``"spontaneous"`` (the fast-sampling objective) or ``"stationary"`` (the control).
    steps : optimiser steps. task_seed : seed of the task's random basis.
    n_train, n_test : training inputs and test stimuli.
    check_trials, check_taus : trials and tau simulated for the empirical ESS check.
    inhibitory : 0 for the linear circuit (one neuron per latent), or the number of
        inhibitory cells of a linear E/I circuit under Dale's law (``"linear-ei"``), whose K
        excitatory cells are read out; its speed is that of the excitatory cells, compared
        with the Langevin circuit that has their stationary covariance.
    """
    started = time.perf_counter()
    count("inhibitory", inhibitory, 0)
    circuit = (RecurrentCircuit(n_latent, n_latent) if inhibitory == 0 else
               RecurrentCircuit(n_latent, n_latent, variant="linear-ei", n_inhibitory=inhibitory))
    window_steps = _validate(n_latent, condition, window, start, steps, n_test, check_trials, check_taus, circuit)
    count("seed", seed, 0)
    count("n_train", n_train, 1)
    task = conditioned_linear_gaussian(n_latent, condition, task_seed)
    rng = np.random.default_rng(seed)
    _, train_x = task.sample(n_train, rng)
    z_test, x_test = task.sample(n_test, rng)
    objective = Objective.for_linear_gaussian(task.A, task.noise_std, task.prior_cov, LogCost())
    # Trials per input are cut as the window grows, so every optimiser step simulates about
    # the same number of Euler steps (16 trials of 40 steps, the package default).
    trials = max(2, round(SIMULATED_STEPS_PER_INPUT / window_steps))
    config = TrainingConfig(steps=steps, window_steps=window_steps, window_start=start, noise_samples=trials)
    key_train, key_check = jax.random.split(jax.random.PRNGKey(seed))
    params, history = train(circuit, objective, train_x, key_train, config, progress=progress)
    training_s = time.perf_counter() - started

    step = circuit.dt / circuit.tau
    update = np.asarray(circuit.euler_matrix(params), dtype=float)
    noise_cov = np.diag(np.asarray(circuit._noise_scale(params), dtype=float) ** 2)
    trained = sampler_measures(update, noise_cov, step, readout=n_latent)
    full_stationary = trained["stationary_cov"]
    stationary = full_stationary[:n_latent, :n_latent]  # the responses' (excitatory cells')
    # The reversible and the optimal irreversible circuit with the same stationary covariance.
    precision = np.linalg.inv(stationary)
    precision = 0.5 * (precision + precision.T)
    reference_updates = {name: euler_update(*circuit_drift(precision, irreversible), step)
                         for name, irreversible in (("langevin", False), ("optimal", True))}
    references = {name: sampler_measures(*euler, step) for name, euler in reference_updates.items()}

    full_fixed_points = np.asarray(circuit.fixed_point(params, jnp.asarray(x_test)), dtype=float)
    full_spontaneous = np.asarray(circuit.fixed_point(params, jnp.zeros((1, n_latent))), dtype=float)[0]
    fixed_points, spontaneous = full_fixed_points[:, :n_latent], full_spontaneous[:n_latent]
    posterior = task.posterior(x_test)
    stationary_kl = gaussian_kl(fixed_points, stationary, posterior.mean, posterior.cov)
    # Onset: the circuit's whole state moves, and the KL is that of the cells read out.
    onset = {"circuit": [steps_to_stationarity(update, point, full_stationary, full_spontaneous, ONSET_KL,
                                               start_cov=full_stationary, readout=n_latent)
                         for point in full_fixed_points],
             "langevin": [steps_to_stationarity(reference_updates["langevin"][0], point,
                                                references["langevin"]["stationary_cov"], spontaneous, ONSET_KL,
                                                start_cov=references["langevin"]["stationary_cov"])
                          for point in fixed_points]}
    onset = {name: np.array(steps_taken) * step for name, steps_taken in onset.items()}

    slowest = int(np.argmax(trained["autocorrelation_steps"]))
    empirical = empirical_ess_per_tau(circuit, params, x_test[:1], key_check, check_trials, check_taus, slowest)

    ratio = trained["ess_per_tau"] / references["langevin"]["ess_per_tau"]
    data_vars = {
        **parameter_variables(params, dims=EI_PARAMETER_DIMS if inhibitory else PARAMETER_DIMS),
        "noise_std": variable("unit" if inhibitory else "latent", np.asarray(circuit.noise_std(params), dtype=float),
                              "1", "noise sd of each cell (latent units)"),
        "stationary_cov": variable(("latent", "latent_"), stationary, "1",
                                   "stationary response covariance of the discrete-time circuit"),
        "posterior_cov": variable(("latent", "latent_"), task.posterior_cov, "1", "exact posterior covariance"),
        "autocorrelation_steps": variable("latent", trained["autocorrelation_steps"], "steps",
                                          "integrated autocorrelation time of each neuron, in Euler steps"),
        "langevin_autocorrelation_steps": variable("latent", references["langevin"]["autocorrelation_steps"],
                                                   "steps", "the same for the Langevin circuit with the same "
                                                            "stationary covariance"),
        "drift_eigenvalue_real": variable("eigenvalue", trained["drift_eigenvalues"].real, "1/tau",
                                          "real parts of the eigenvalues of the drift I - W"),
        "drift_eigenvalue_imag": variable("eigenvalue", trained["drift_eigenvalues"].imag, "1/tau",
                                          "imaginary parts of the eigenvalues of the drift I - W"),
        "langevin_drift_eigenvalue_real": variable("langevin_eigenvalue",
                                                   references["langevin"]["drift_eigenvalues"].real, "1/tau",
                                                   "real parts of the Langevin circuit's drift eigenvalues"),
        "onset_time": variable("stimulus", onset["circuit"], "tau",
                               f"time after onset, from spontaneous activity, until the responses are within "
                               f"{ONSET_KL} nats of their stationary distribution"),
        "langevin_onset_time": variable("stimulus", onset["langevin"], "tau", "the same for the Langevin circuit"),
        "stationary_kl_per_stimulus": variable("stimulus", stationary_kl, "nats",
                                               "KL(stationary responses || exact posterior) per test stimulus"),
        "loss": variable("step", history["loss"].values, "nats", "training objective per step"),
        "ess_per_tau": scalar(trained["ess_per_tau"], "1/tau", "effective samples per tau of one trial (exact, "
                                                               "slowest neuron)"),
        "langevin_ess_per_tau": scalar(references["langevin"]["ess_per_tau"], "1/tau",
                                       "the same for the reversible Langevin circuit with the same stationary "
                                       "covariance"),
        "optimal_ess_per_tau": scalar(references["optimal"]["ess_per_tau"], "1/tau",
                                      "the same for the optimal irreversible circuit with that covariance"),
        "ess_per_tau_ratio": scalar(ratio, "1", "ess_per_tau / langevin_ess_per_tau"),
        "empirical_ess_per_tau": scalar(empirical, "1/tau",
                                        f"ESS per tau of one trial from {check_trials} simulated trials of "
                                        f"{check_taus:g} tau (arviz-stats) of the neuron with the longest exact "
                                        "autocorrelation time, stimulus 0"),
        "henrici_departure": scalar(trained["henrici"], "1", "Henrici's departure from normality of I - W"),
        "henrici_departure_stationary_metric": scalar(
            trained["henrici_stationary_metric"], "1",
            "the same for S^-1/2 (I - W) S^1/2 (0 for a reversible circuit)"),
        "irreversibility": scalar(trained["irreversibility"], "1", "||B S - S B^T|| / ||B S + S B^T||, B = I - W"),
        "stationary_kl": scalar(float(np.mean(stationary_kl)), "nats",
                                "mean over test stimuli of KL(stationary responses || exact posterior)"),
        "onset_time_median": scalar(float(np.median(onset["circuit"])), "tau", "median of onset_time"),
        "langevin_onset_time_median": scalar(float(np.median(onset["langevin"])), "tau",
                                             "median of langevin_onset_time"),
        "training_s": scalar(training_s, "s", "wall time of the training, compilation included"),
    }
    coords = {"latent": variable("latent", np.arange(n_latent), "1", "neuron / latent"),
              "latent_": variable("latent_", np.arange(n_latent), "1", "second latent axis"),
              "obs": variable("obs", np.arange(n_latent), "1", "input dimension"),
              "stimulus": variable("stimulus", np.arange(n_test), "1", "test stimulus"),
              "eigenvalue": variable("eigenvalue", np.arange(circuit.n_units), "1", "eigenvalue index"),
              "langevin_eigenvalue": variable("langevin_eigenvalue", np.arange(n_latent), "1",
                                              "eigenvalue index of the Langevin circuit"),
              "step": variable("step", np.arange(1, steps + 1), "1", "optimiser step")}
    if inhibitory:
        cells = variable("unit", np.arange(circuit.n_units), "1", "cell: the K excitatory cells, then the inhibitory")
        coords.update(unit=cells, unit_=variable("unit_", np.arange(circuit.n_units), "1", "second cell axis"))
    config_dict = dict(seed=seed, n_latent=n_latent, condition=condition, window=window, start=start, steps=steps,
                       inhibitory=inhibitory, variant=circuit.variant, tau_inhibitory=circuit.tau_inhibitory,
                       task_seed=task_seed, n_train=n_train, n_test=n_test, check_trials=check_trials,
                       check_taus=check_taus, tau=circuit.tau, dt=circuit.dt, cost="log", charge="responses",
                       objective="negative ELBO of the linear-Gaussian task, log cost charged on the responses' "
                                 "stationary covariance; decoding scored on the first `window` tau after onset from "
                                 "spontaneous activity (start=spontaneous) or on stationary responses (stationary)")
    ds = new_dataset(data_vars, coords, config_dict, "fast-sampling")
    ds["z_true"] = variable(("stimulus", "latent"), z_test, "1", "latents of the test stimuli")
    ds.attrs["wall_time_s"] = time.perf_counter() - started
    return ds
