"""Spiking experiments: the spike-based Boltzmann sampler against its exact distribution.

``run_boltzmann`` backs ``sampling-circuits run boltzmann``. Everything random derives from
``seed`` through ``numpy.random.SeedSequence``: the network's W and b, Brian2's seed for the
free and the clamped run, and the Gibbs reference.
"""

from __future__ import annotations

import time

import numpy as np
import xarray as xr

from analysis.compare import discrete_kl, state_histogram
from analysis.generative import MAX_ENUMERATION_UNITS, BoltzmannMachine, state_bits, state_index
from analysis.variability import plugin_kl_floor, state_indicator_ess
from circuits._validation import count, positive
from circuits.brian_tools import check_target
from circuits.spiking import (
    NEURON_MODELS,
    LIFParameters,
    SpikingBoltzmannSampler,
    calibrate_lif,
    simulate_sampler,
)
from simulations.results import new_dataset, scalar, variable

__all__ = ["random_boltzmann_machine", "default_clamp", "run_boltzmann", "run_spiking_circuit"]


def random_boltzmann_machine(n_units: int, rng: np.random.Generator, weight_scale: float = 0.5,
                             bias_scale: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """W_kj = W_jk ~ N(0, weight_scale^2) for k < j, zero diagonal; b_k ~ N(0, bias_scale^2)."""
    n_units = count("n_units", n_units, 1)
    upper = np.triu(rng.normal(0.0, positive("weight_scale", weight_scale), (n_units, n_units)), 1)
    return upper + upper.T, rng.normal(0.0, positive("bias_scale", bias_scale), n_units)


def default_clamp(n_units: int) -> dict[int, int]:
    """Observe the first unit on and the second off (needs K >= 3 to leave two free units)."""
    return {0: 1, 1: 0} if n_units >= 3 else {}


def _brian_seed(sequence: np.random.SeedSequence) -> int:
    return int(sequence.generate_state(1)[0])


def _checkpoints(n_draws: int, n_points: int) -> np.ndarray:
    """Draw counts per chain, log-spaced from min(10, n) to n."""
    return np.unique(np.geomspace(min(10, n_draws), n_draws, n_points).round().astype(int))


def _kl_curve(states: np.ndarray, p_exact: np.ndarray, checkpoints: np.ndarray) -> np.ndarray:
    """KL(histogram of the first m draws of every chain || p_exact) for each m in checkpoints."""
    n_units = states.shape[-1]
    return np.array([discrete_kl(state_histogram(states[:, :m], n_units), p_exact) for m in checkpoints])


def _autocorrelation_time(states: np.ndarray) -> float:
    """Median over states of the integrated autocorrelation time of the state indicators, in draws."""
    indices = state_index(states)  # (chain, draw)
    ess = state_indicator_ess(indices, 1 << states.shape[-1])
    return float(np.nanmedian(indices.size / ess))


def run_boltzmann(seed: int, n_units: int = 5, duration: float = 100.0, neuron: str = "abstract",
                  n_trials: int = 1, clamp: dict[int, int] | None = None, weight_scale: float = 0.5,
                  bias_scale: float = 0.5, tau: float = 0.02, burn_in: float = 0.2, target: str = "numpy",
                  n_checkpoints: int = 25, progress: bool = True) -> xr.Dataset:
    """Sample a random Boltzmann machine with spiking neurons and score it against enumeration.

    Parameters
    ----------
    seed : seeds W, b, the Brian2 runs and the Gibbs reference.
    n_units : K (at most ``analysis.generative.MAX_ENUMERATION_UNITS``).
    duration : simulated seconds per trial; ``n_trials`` chains run side by side, so the
        sampler's total simulated time is n_trials * duration (the ``sampled_time`` axis).
    neuron : ``"abstract"`` (Buesing et al. 2011) or ``"lif"`` (calibrated first).
    clamp : {unit: 0/1} observed units for the inference run (default ``default_clamp``;
        an empty dict skips it).
    weight_scale, bias_scale : sds of the random W and b (``random_boltzmann_machine``).
    tau : refractory period = PSP duration, seconds; states are read every tau.
    burn_in : seconds discarded at the start of each trial.

    The Gibbs reference draws the same number of samples per chain (one per sweep), with as
    many chains, and is scored at the same checkpoints. The bias floor is
    (2^K - 1) / (2 N_eff) with N_eff = N / tau_int, tau_int the median integrated
    autocorrelation time (in readout steps) of the state indicators of the spiking run.
    """
    if isinstance(n_units, (int, np.integer)) and not isinstance(n_units, bool) and n_units > MAX_ENUMERATION_UNITS:
        raise ValueError(f"n_units = {n_units} is over the enumeration limit of {MAX_ENUMERATION_UNITS} units: "
                         "the exact distribution could not be computed")
    n_units = count("n_units", n_units, 1)
    count("seed", seed, 0)
    n_trials = count("n_trials", n_trials, 1)
    duration, tau, burn_in = positive("duration", duration), positive("tau", tau), positive("burn_in", burn_in)
    check_target(target)
    if neuron not in NEURON_MODELS:
        raise ValueError(f"neuron must be one of {', '.join(NEURON_MODELS)}; got {neuron!r}")
    if duration <= burn_in + 10 * tau:
        raise ValueError(f"duration must exceed burn_in + 10 tau = {burn_in + 10 * tau} s, got {duration} s")
    clamp = default_clamp(n_units) if clamp is None else dict(clamp)
    if len(clamp) >= n_units:
        raise ValueError("clamp must leave at least one unit free")

    started = time.perf_counter()
    seeds = np.random.SeedSequence(seed).spawn(5)
    W, b = random_boltzmann_machine(n_units, np.random.default_rng(seeds[0]), weight_scale, bias_scale)
    machine = BoltzmannMachine(W, b)
    p_exact = machine.probabilities()

    lif = calibration = None
    if neuron == "lif":
        lif = LIFParameters()
        calibration = calibrate_lif(lif, tau, _brian_seed(seeds[3]), target=target)
    sampler = SpikingBoltzmannSampler(W, b, tau=tau, neuron=neuron, lif=lif, calibration=calibration)

    simulation_started = time.perf_counter()
    free_run = simulate_sampler(sampler, duration, _brian_seed(seeds[1]), n_trials=n_trials, target=target,
                                progress=progress)
    simulation_wall = time.perf_counter() - simulation_started
    n_burn = int(np.ceil(burn_in / tau - 1e-9))
    states = free_run["z"].values[:, n_burn:]
    n_draws = states.shape[1]
    checkpoints = _checkpoints(n_draws, n_checkpoints)
    kl_sampled = _kl_curve(states, p_exact, checkpoints)

    gibbs = machine.gibbs(n_draws, np.random.default_rng(seeds[2]), n_chains=n_trials, burn_in=100)
    kl_gibbs = _kl_curve(gibbs, p_exact, checkpoints)
    tau_int = _autocorrelation_time(states)
    kl_floor = plugin_kl_floor(1 << n_units, n_trials * checkpoints / tau_int)
    sampled_time = n_trials * checkpoints * tau
    late = checkpoints >= n_draws / 100
    kl_slope = np.polyfit(np.log(sampled_time[late]), np.log(kl_sampled[late]), 1)[0] if late.sum() >= 2 else np.nan

    data_vars = {
        "W": variable(("unit", "unit_"), W, "1", "couplings of the Boltzmann machine"),
        "b": variable("unit", b, "1", "biases of the Boltzmann machine"),
        "state_bits": variable(("state", "unit"), state_bits(np.arange(1 << n_units), n_units), "1",
                               "binary state of each unit in each state (unit k = bit k of the state index)"),
        "p_exact": variable("state", p_exact, "1", "exact p(state) by enumeration"),
        "p_sampled": variable("state", state_histogram(states, n_units), "1", "state histogram of the spiking sampler"),
        "p_gibbs": variable("state", state_histogram(gibbs, n_units), "1",
                            "state histogram of the Gibbs reference at matched sample count"),
        "z": variable(("trial", "draw", "unit"), states, "1", "sampler states read every tau after burn-in"),
        "spike_count": variable(("trial", "unit"), free_run["spike_count"].values, "spikes", "spikes per trial"),
        "kl_sampled": variable("checkpoint", kl_sampled, "nats", "KL(spiking sampler histogram || exact)"),
        "kl_gibbs": variable("checkpoint", kl_gibbs, "nats", "KL(Gibbs histogram || exact), same sample count"),
        "kl_floor": variable("checkpoint", kl_floor, "nats",
                             "plug-in bias floor (2^K - 1) / (2 N_eff) of the spiking sampler"),
        "n_draws": variable("checkpoint", checkpoints, "1", "draws per chain used at each checkpoint"),
        "kl_final": scalar(kl_sampled[-1], "nats", "KL(sampled || exact) over the whole run"),
        "kl_floor_final": scalar(kl_floor[-1], "nats", "bias floor over the whole run"),
        "kl_gibbs_final": scalar(kl_gibbs[-1], "nats", "Gibbs reference KL over the whole run"),
        "kl_slope": scalar(kl_slope, "1", "slope of log KL vs log simulated time over the last two decades (1/T: -1)"),
        "autocorrelation_time": scalar(tau_int * tau, "s",
                                       "integrated autocorrelation time of the readouts (taken every tau)"),
        "simulation_wall_time": scalar(simulation_wall, "s", "wall time of the free spiking run"),
        "simulated_seconds_per_second": scalar(n_trials * duration / simulation_wall, "s/s",
                                                "network seconds simulated per wall second (all trials)"),
    }
    coords = {
        "unit": variable("unit", np.arange(n_units), "1", "unit index"),
        "unit_": variable("unit_", np.arange(n_units), "1", "second unit axis"),
        "state": variable("state", np.arange(1 << n_units), "1", "joint state index, unit k = bit k"),
        "trial": variable("trial", np.arange(n_trials), "1", "independent chain"),
        "draw": variable("draw", np.arange(n_draws), "1", "readout index after burn-in (every tau)"),
        "checkpoint": variable("checkpoint", np.arange(checkpoints.size), "1", "point of the KL-vs-time curve"),
        "sampled_time": variable("checkpoint", sampled_time, "s", "simulated time summed over trials"),
    }
    if clamp:
        data_vars.update(_clamped_run(sampler, machine, clamp, duration, n_trials, n_burn, _brian_seed(seeds[4]),
                                      target, progress))
        coords["free_state"] = variable("free_state", np.arange(data_vars["p_conditional_exact"].size), "1",
                                        "joint state index of the free units (free unit i = bit i)")
    if calibration is not None:
        coords["drive"] = variable("drive", calibration.mean_input, "1", "LIF calibration drive (threshold units)")
        data_vars.update({
            "lif_on_fraction": variable("drive", calibration.on_fraction, "1", "measured p(z = 1 | drive)"),
            "lif_offset": scalar(calibration.offset, "1", "logistic fit offset (threshold units)"),
            "lif_scale": scalar(calibration.scale, "1", "logistic fit scale (threshold units)"),
            "lif_fit_error": scalar(calibration.max_abs_error, "1", "largest |fit - measured| on-fraction"),
        })
    config = {"experiment": "boltzmann", "seed": seed, "n_units": n_units, "duration": duration, "neuron": neuron,
              "n_trials": n_trials, "clamp": {str(k): int(v) for k, v in clamp.items()},
              "weight_scale": weight_scale, "bias_scale": bias_scale, "tau": tau, "dt": sampler.dt,
              "burn_in": burn_in, "target": target, "n_checkpoints": n_checkpoints}
    if lif is not None:
        config["lif"] = lif.__dict__
    ds = new_dataset(data_vars, coords, config, "boltzmann")
    ds.attrs["wall_time_s"] = time.perf_counter() - started
    return ds


def _clamped_run(sampler, machine: BoltzmannMachine, clamp: dict, duration: float, n_trials: int, n_burn: int,
                 brian_seed: int, target: str, progress: bool) -> dict:
    """Inference by clamping: sample the free units with the observed ones held, vs the exact conditional."""
    units = np.array(sorted(clamp), dtype=int)
    values = np.array([clamp[u] for u in units], dtype=int)
    free = machine.free_units(units)
    p_conditional = machine.conditional(units, values).probabilities()
    run = simulate_sampler(sampler, duration, brian_seed, n_trials=n_trials, clamped=clamp, target=target,
                           progress=progress)
    states = run["z"].values[:, n_burn:]
    held = states[..., units]
    if not np.all(held == values):
        raise RuntimeError("a clamped unit left its observed value; the clamp is broken")
    free_states = states[..., free]
    p_sampled = state_histogram(free_states, free.size)
    tau_int = _autocorrelation_time(free_states)
    floor = plugin_kl_floor(1 << free.size, free_states.shape[0] * free_states.shape[1] / tau_int)
    return {
        "clamped_unit": variable("clamped", units, "1", "observed (clamped) units"),
        "clamped_value": variable("clamped", values, "1", "their observed values"),
        "free_unit": variable("free", free, "1", "units sampled given the clamped ones"),
        "p_conditional_exact": variable("free_state", p_conditional, "1", "exact p(free units | clamped)"),
        "p_conditional_sampled": variable("free_state", p_sampled, "1", "state histogram of the free units"),
        "kl_conditional": scalar(discrete_kl(p_sampled, p_conditional), "nats",
                                  "KL(sampled conditional || exact conditional)"),
        "kl_conditional_floor": scalar(floor, "nats", "bias floor of the clamped run"),
    }


def _trained_single_layer(rate_results: xr.Dataset):
    """Rebuild the trained single-layer circuit of a rate-circuit results file: (circuit, params)."""
    from simulations.results import config_of
    from simulations.tasks import trained_circuit

    config = config_of(rate_results)
    if config.get("experiment") != "linear-gaussian":
        raise ValueError("the spiking realisation needs a linear-gaussian results file, "
                         f"got {config.get('experiment')!r}")
    if config.get("architecture") != "single-layer":
        raise ValueError("the spiking realisation needs a single-layer circuit (independent noise per neuron); "
                         f"the file holds a {config.get('architecture')!r} circuit")
    circuit, params, _ = trained_circuit(rate_results)
    return circuit, params


def run_spiking_circuit(rate_results, seed: int, n_trials: int = 500, window: float = 1.0, dt: float = 0.0001,
                        neuron: str = "poisson", target: str = "numpy", progress: bool = True) -> xr.Dataset:
    """Spiking realisation of a trained single-layer linear-Gaussian circuit, scored against the
    exact posterior and against the rate circuit it realises.

    rate_results : a ``run linear-gaussian --architecture single-layer`` Dataset or its path.
    seed : Brian2's seed. n_trials : repeated presentations of each test stimulus.
    window : counting window, seconds. dt : Brian2 step, seconds (Poisson neurons; the LIF
    neuron uses its own). neuron : ``"poisson"`` or ``"lif"`` ON / OFF neurons; LIF neurons
    are calibrated first (rate and Fano factor against drive, ``calibrate_lif_rates``) and
    the synapses are designed with their typical Fano factor.
    See ``circuits.spiking_rate`` for the construction and its exact variance.
    """
    from analysis.compare import compare_to_gaussian
    from circuits.spiking_rate import (
        RATE_NEURON_MODELS,
        LIFRateNeuron,
        calibrate_lif_rates,
        design_synaptic_code,
        simulate_spiking_circuit,
    )
    from simulations.results import config_of, load

    count("seed", seed, 0)
    if neuron not in RATE_NEURON_MODELS:
        raise ValueError(f"neuron must be one of {', '.join(RATE_NEURON_MODELS)}; got {neuron!r}")
    if not isinstance(rate_results, xr.Dataset):
        rate_results = load(rate_results)
    started = time.perf_counter()
    circuit, params = _trained_single_layer(rate_results)
    x = rate_results["x"].values
    response_mean = np.asarray(circuit.mean(params, x), dtype=float)
    noise_std = np.asarray(circuit.output_noise_std(params, x), dtype=float)
    if noise_std.ndim == 2:  # input-independent for an ungated circuit: one row is enough
        if not np.allclose(noise_std, noise_std[:1], rtol=1e-6):
            raise ValueError("the circuit's noise depends on the input; the synaptic code needs a fixed noise sd")
        noise_std = noise_std[0]
    calibration = None
    if neuron == "lif":
        calibration = calibrate_lif_rates(LIFRateNeuron(), seed, window=window, target=target)
    fano = 1.0 if calibration is None else calibration.typical_fano()
    code = design_synaptic_code(response_mean, noise_std, window=window, fano_factor=fano)
    run = simulate_spiking_circuit(code, n_trials, seed, dt=dt, target=target, progress=progress,
                                   calibration=calibration)
    decoded = run["decoded"].values
    posterior_mean = rate_results["posterior_mean"].values
    posterior_cov = rate_results["posterior_cov"].values
    metrics = compare_to_gaussian(decoded, posterior_mean, posterior_cov, rate_results["z"].values)
    spiking_variance = decoded.var(axis=1, ddof=1)
    variance_to_rate = spiking_variance / noise_std**2
    posterior_sd = np.sqrt(np.diagonal(posterior_cov))
    mean_error = np.abs(decoded.mean(axis=1) - posterior_mean) / posterior_sd
    rate_mean_error = np.abs(response_mean - posterior_mean) / posterior_sd

    latent_dims = ("stimulus", "latent")
    data_vars = {
        **{name: rate_results[name].variable for name in ("x", "z", "posterior_mean", "posterior_cov")},
        "decoded": variable(("stimulus", "trial", "latent"), decoded, "1", run["decoded"].attrs["description"]),
        "quanta": variable(("stimulus", "trial", "latent"), run["quanta"].values, "quanta", "net quanta per window"),
        "spike_count": variable(("stimulus", "trial", "latent", "polarity"), run["spike_count"].values, "spikes",
                                "ON / OFF spikes per window"),
        "rate_mean": variable(latent_dims, response_mean, "1", "the rate circuit's response mean mu(x)"),
        "rate_noise_std": variable("latent", noise_std, "1", "the rate circuit's trained noise sd"),
        "n_sites": variable("latent", code.n_sites, "1", "release sites per connection"),
        "release_probability": variable("latent", code.release_probability, "1", "release probability per site"),
        "predicted_variance": variable("latent", code.decoded_variance(), "1", "exact decoded variance"),
        "baseline_rate": scalar(code.baseline_rate, "Hz", "nu0: rate of ON and OFF neurons at mu = 0"),
        "gain": scalar(code.gain, "Hz", "g: rate change per response unit"),
        "fano_factor": scalar(code.fano_factor, "1", "spike-count Fano factor the synapses were designed for"),
        "mean_error_posterior_sd": variable(latent_dims, mean_error, "1", "|decoded mean - posterior mean| / sd"),
        "variance_ratio_to_rate": variable(latent_dims, variance_to_rate, "1",
                                           "decoded variance / the rate circuit's variance"),
        "max_mean_error_sd": scalar(mean_error.max(), "1", "largest |decoded mean - posterior mean| in posterior sd"),
        "rate_max_mean_error_sd": scalar(rate_mean_error.max(), "1", "the same for the rate circuit's mean"),
        "mean_variance_ratio_to_rate": scalar(variance_to_rate.mean(), "1", "mean decoded / rate-circuit variance"),
        "max_variance_deviation_to_rate": scalar(np.abs(variance_to_rate - 1).max(), "1",
                                                  "largest |decoded / rate-circuit variance - 1|"),
        **{name: scalar(value, "nats" if name == "kl_moment_matched" else "1", f"{name} of the decoded counts")
           for name, value in metrics.items()},
    }
    coords = {
        "stimulus": rate_results["stimulus"].variable, "latent": rate_results["latent"].variable,
        "latent_": rate_results["latent_"].variable, "obs": rate_results["obs"].variable,
        "trial": variable("trial", np.arange(n_trials), "1", "repeated presentation"),
        "polarity": variable("polarity", ["on", "off"], "1", "ON / OFF neuron of each pair"),
    }
    config = {"experiment": "spiking-circuit", "seed": seed, "n_trials": n_trials, "window": window, "dt": dt,
              "neuron": neuron, "target": target, "rate_circuit": config_of(rate_results)}
    if calibration is not None:
        config["lif"] = calibration.neuron.__dict__
    ds = new_dataset(data_vars, coords, config, "spiking-circuit")
    ds.attrs["wall_time_s"] = time.perf_counter() - started
    return ds
