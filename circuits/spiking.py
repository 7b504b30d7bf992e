"""Spiking circuits on Brian2: spike-based sampling of Boltzmann distributions.

Neural sampling (Buesing, Bill, Nessler & Maass 2011, "Neural dynamics as sampling"):
unit k is a stochastic spiking neuron whose binary state z_k is 1 for a time tau after each
of its spikes (the absolute refractory period) and 0 otherwise. Its membrane potential

    u_k(t) = b_k + sum_j W_kj z_j(t)

is built from rectangular postsynaptic potentials of height W_kj and duration tau (one
pathway adds W_kj at a presynaptic spike, a second pathway delayed by tau removes it).
A neuron that is not refractory fires in a time step of length dt with probability

    sigma(u_k - log(tau / dt))        (the paper's discrete-time form),

and may fire again in the last step of its refractory period. A single neuron with fixed u
is then on a fraction sigma(u) of the time exactly; for the network, the states z(t) read
on a time grid are samples of p(z) proportional to exp(1/2 z^T W z + b^T z), exactly in the
continuous-time limit; with all neurons updated in parallel the stationary KL to p(z) grows
as (dt / tau)^2 (measured for a random K = 5 machine with 4 x 10^5 draws: 1.4e-3 nats at
tau / dt = 20, 3.4e-4 nats at the default tau / dt = 40, a tenth of the plug-in floor of a
100 s run).

The leaky integrate-and-fire variant (``neuron="lif"``) replaces the stochastic threshold by
a deterministic one with white-noise input current (the high-conductance regime of
Petrovici, Bill, Bytschok, Schemmel & Meier 2016): its activation function is measured by
``calibrate_lif`` and fitted by a logistic sigma((mu - offset) / scale), and the network's
weights and biases are mapped through that fit. The mapping is approximate (the membrane
filters the rectangular PSPs), so the LIF sampler's error does not vanish with time.

Every simulation runs many independent trials (chains) in one network, vectorised over a
``trial`` index, and returns an ``xarray.Dataset``; ``circuits.brian_tools`` chooses the
code-generation target and the seed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import xarray as xr

from circuits._validation import count, positive, steps
from circuits.brian_tools import (
    brian_session,
    check_target,
    progress_reporter,
    spike_monitor_to_dataset,
    state_monitor_to_dataset,
)

__all__ = ["NEURON_MODELS", "LIFParameters", "LIFCalibration", "SpikingBoltzmannSampler",
           "calibrate_lif", "simulate_sampler"]

NEURON_MODELS = ("abstract", "lif")


@dataclass(frozen=True)
class LIFParameters:
    """A leaky integrate-and-fire unit with white-noise input, in dimensionless potential
    (rest 0, threshold 1).

    membrane_time_constant : tau_m, seconds. noise : sd of the free membrane fluctuations
    (threshold units). reset : potential after the refractory period. dt : integration step,
    seconds (must divide the refractory period). The defaults (a membrane ten times faster
    than a 20 ms PSP, noise as large as the threshold) keep the logistic fit within 0.08 of
    the measured activation; the K = 5 sampler then stays 0.005-0.008 nats above its plug-in
    floor (measured), an error that does not shrink with time.
    """

    membrane_time_constant: float = 0.001
    noise: float = 1.0
    reset: float = 0.0
    dt: float = 0.0001

    def __post_init__(self):
        for name in ("membrane_time_constant", "noise", "dt"):
            object.__setattr__(self, name, positive(name, getattr(self, name)))
        if not math.isfinite(self.reset) or self.reset >= 1:
            raise ValueError(f"reset must be below the threshold 1, got {self.reset}")


@dataclass(frozen=True)
class LIFCalibration:
    """Logistic fit p(z = 1 | mu) = sigma((mu - offset) / scale) of a LIF unit's activation.

    ``mean_input`` and ``on_fraction`` are the measured points behind the fit;
    ``max_abs_error`` the largest deviation of the fit from them.
    """

    offset: float
    scale: float
    mean_input: np.ndarray = field(repr=False)
    on_fraction: np.ndarray = field(repr=False)
    max_abs_error: float = 0.0


@dataclass(frozen=True, eq=False)
class SpikingBoltzmannSampler:
    """A network of spiking neurons that samples p(z) ~ exp(1/2 z^T W z + b^T z).

    Parameters
    ----------
    weights : (K, K) symmetric, zero diagonal, finite; the couplings W (dimensionless,
        the PSP height in units of the log-odds of firing).
    biases : (K,) finite; b.
    tau : refractory period = PSP duration, seconds (> 0).
    dt : time step, seconds; tau must be a multiple of it. Default 0.5 ms for the abstract
        neuron; the LIF neuron uses its own ``LIFParameters.dt``.
    neuron : ``"abstract"`` (Buesing et al. 2011) or ``"lif"``.
    lif, calibration : parameters and measured activation of the LIF neuron (required for it).
    """

    weights: np.ndarray
    biases: np.ndarray
    tau: float = 0.02
    dt: float = 0.0005
    neuron: str = "abstract"
    lif: LIFParameters | None = None
    calibration: LIFCalibration | None = None

    def __post_init__(self):
        weights = np.array(self.weights, dtype=float)
        biases = np.array(self.biases, dtype=float)
        if weights.ndim != 2 or weights.shape[0] != weights.shape[1] or weights.shape[0] < 1:
            raise ValueError(f"weights must be a square (K, K) matrix, got shape {weights.shape}")
        if biases.shape != (weights.shape[0],):
            raise ValueError(f"biases must have shape ({weights.shape[0]},), got {biases.shape}")
        if not (np.all(np.isfinite(weights)) and np.all(np.isfinite(biases))):
            raise ValueError("weights and biases must be finite")
        if not np.allclose(weights, weights.T, rtol=0, atol=1e-12):
            raise ValueError("weights must be symmetric (W_kj = W_jk)")
        if np.any(np.diagonal(weights) != 0):
            raise ValueError("weights must have a zero diagonal (no self-coupling)")
        weights.flags.writeable = False
        biases.flags.writeable = False
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "biases", biases)
        object.__setattr__(self, "tau", positive("tau", self.tau))
        if self.neuron not in NEURON_MODELS:
            raise ValueError(f"neuron must be one of {', '.join(NEURON_MODELS)}; got {self.neuron!r}")
        if self.neuron == "lif":
            if self.lif is None or self.calibration is None:
                raise ValueError("the lif neuron needs lif parameters and a calibration (see calibrate_lif)")
            object.__setattr__(self, "dt", self.lif.dt)
        object.__setattr__(self, "dt", positive("dt", self.dt))
        steps("tau", self.tau, self.dt)

    @property
    def n_units(self) -> int:
        return self.weights.shape[0]

    @property
    def tau_steps(self) -> int:
        return steps("tau", self.tau, self.dt)


def _clamp_arrays(clamped, n_units: int) -> tuple[np.ndarray, np.ndarray]:
    """(clamp_on, clamp_off) float masks (K,) from a {unit: 0 or 1} mapping."""
    on = np.zeros(n_units)
    off = np.zeros(n_units)
    for unit, value in (clamped or {}).items():
        if isinstance(unit, bool) or not isinstance(unit, (int, np.integer)) or not 0 <= unit < n_units:
            raise ValueError(f"clamped unit must be an integer in [0, {n_units}), got {unit!r}")
        if value not in (0, 1):
            raise ValueError(f"clamped value of unit {unit} must be 0 or 1, got {value!r}")
        (on if value == 1 else off)[unit] = 1.0
    return on, off


def _build_units(brian2, sampler: SpikingBoltzmannSampler, n_trials: int, clamp_on, clamp_off, input_bias):
    """The NeuronGroup of K * n_trials units (neuron index = trial * K + unit)."""
    K = sampler.n_units
    N = K * n_trials
    namespace = {"tau": sampler.tau * brian2.second}
    state = """
        input_syn : 1
        b : 1 (constant)
        trial : integer (constant)
        unit : integer (constant)
        t_spike : second
        z = int(t - t_spike > 0.5*dt and t - t_spike < tau + 0.5*dt) : 1
    """
    if sampler.neuron == "abstract":
        equations = state + """
        u = clip(b + input_syn, -40, 40) : 1
        clamp_on : 1 (constant)
        clamp_off : 1 (constant)
        p_fire = clamp_on + (1 - clamp_on - clamp_off) / (1 + tau_steps * exp(-u)) : 1
        """
        namespace["tau_steps"] = float(sampler.tau_steps)
        group = brian2.NeuronGroup(N, equations, threshold="t - t_spike > tau - 0.5*dt and rand() < p_fire",
                                   reset="t_spike = t", namespace=namespace, dt=sampler.dt * brian2.second,
                                   name="sampler_units")
        group.clamp_on = np.tile(clamp_on, n_trials)
        group.clamp_off = np.tile(clamp_off, n_trials)
    else:
        lif = sampler.lif
        # The drive b already holds the calibrated bias (clamped units: far above or below threshold).
        equations = state + """
        dv/dt = (b + input_syn - v) / tau_m + noise * sqrt(2 / tau_m) * xi : 1 (unless refractory)
        """
        namespace.update(tau_m=lif.membrane_time_constant * brian2.second, noise=lif.noise, v_reset=lif.reset)
        group = brian2.NeuronGroup(N, equations, threshold="v > 1", reset="v = v_reset; t_spike = t",
                                   refractory=sampler.tau * brian2.second, method="euler", namespace=namespace,
                                   dt=sampler.dt * brian2.second, name="sampler_units")
        group.v = lif.reset
    group.trial = np.repeat(np.arange(n_trials), K)
    group.unit = np.tile(np.arange(K), n_trials)
    group.t_spike = -10 * sampler.tau * brian2.second
    group.b = np.tile(input_bias, n_trials)
    return group


def _build_psps(brian2, group, weights: np.ndarray, tau: float, n_trials: int):
    """Rectangular PSPs: +W_kj when j spikes, -W_kj tau later (both within the same trial).
    None when there are no couplings (Brian2 refuses an empty Synapses object)."""
    K = weights.shape[0]
    post_unit, pre_unit = np.nonzero(weights)
    if post_unit.size == 0:
        return None
    offsets = np.repeat(np.arange(n_trials) * K, post_unit.size)
    synapses = brian2.Synapses(group, group, "w : 1 (constant)",
                               on_pre={"up": "input_syn_post += w", "down": "input_syn_post -= w"},
                               delay={"up": 0 * brian2.second, "down": tau * brian2.second}, dt=group.dt[:],
                               name="psps")
    synapses.connect(i=np.tile(pre_unit, n_trials) + offsets, j=np.tile(post_unit, n_trials) + offsets)
    synapses.w = np.tile(weights[post_unit, pre_unit], n_trials)
    return synapses


def simulate_sampler(sampler: SpikingBoltzmannSampler, duration: float, seed: int, n_trials: int = 1,
                     clamped: dict | None = None, sample_interval: float | None = None,
                     target: str = "numpy", progress: bool = False) -> xr.Dataset:
    """Run the sampler and read its state on a fixed time grid.

    Parameters
    ----------
    duration : simulated time of each trial, seconds (a multiple of ``sample_interval``).
    seed : seeds Brian2's generator for this run (see ``circuits.brian_tools``).
    n_trials : independent chains simulated side by side in one network.
    clamped : {unit: 0 or 1} observed units held at a value (inference by clamping): the
        abstract neuron's firing probability is set to 1 (always on) or 0 (always off);
        a LIF unit gets a drive far above or below threshold.
    sample_interval : readout grid, seconds (default tau); the state at t = 0 is not read.
    target : Brian2 code-generation target.

    Returns
    -------
    Dataset with ``z`` (trial, time, unit) uint8 states, ``spike_count`` (trial, unit), the
    ``time`` coordinate in seconds, and the sampler's parameters.
    """
    check_target(target)
    n_trials = count("n_trials", n_trials, 1)
    duration = positive("duration", duration)
    sample_interval = sampler.tau if sample_interval is None else positive("sample_interval", sample_interval)
    steps("sample_interval", sample_interval, sampler.dt)
    n_samples = steps("duration", duration, sample_interval)
    K = sampler.n_units
    clamp_on, clamp_off = _clamp_arrays(clamped, K)

    if sampler.neuron == "abstract":
        input_bias, weights = sampler.biases, sampler.weights
    else:
        calibration = sampler.calibration
        input_bias = calibration.offset + calibration.scale * sampler.biases
        input_bias = np.where(clamp_on == 1, 1e3, np.where(clamp_off == 1, -1e3, input_bias))
        weights = calibration.scale * sampler.weights

    with brian_session(target, seed, name=f"boltzmann_{sampler.neuron}_K{K}") as brian2:
        units = _build_units(brian2, sampler, n_trials, clamp_on, clamp_off, input_bias)
        psps = _build_psps(brian2, units, weights, sampler.tau, n_trials)
        # Read z at the start of each grid step, i.e. the state the step's dynamics see.
        states = brian2.StateMonitor(units, "z", record=True, dt=sample_interval * brian2.second, name="states")
        spikes = brian2.SpikeMonitor(units, name="spikes")
        network = brian2.Network(*[obj for obj in (units, psps, states, spikes) if obj is not None])
        report, bar = progress_reporter(progress and target != "cpp_standalone", "spiking sampler")
        # One extra interval so that the state at t = duration is read on every target (the
        # standalone clock drops a sample that falls on the last step).
        network.run((duration + sample_interval) * brian2.second, report=report, namespace={})
        if bar is not None:
            bar.close()
        recorded = state_monitor_to_dataset(states, ["z"])
        spike_count = spike_monitor_to_dataset(spikes)["spike_count"].values.reshape(n_trials, K)

    recorded = recorded.isel(time=slice(1, n_samples + 1))  # grid points sample_interval, ..., duration
    times = recorded["time"].values
    z = recorded["z"].values.astype(np.uint8).reshape(n_samples, n_trials, K).transpose(1, 0, 2)
    return xr.Dataset(
        {
            "z": (("trial", "time", "unit"), z, {"units": "1", "description": "binary state: 1 within tau of a spike"}),
            "spike_count": (("trial", "unit"), spike_count, {"units": "spikes", "description": "spikes per trial"}),
        },
        coords={
            "trial": ("trial", np.arange(n_trials), {"units": "1", "description": "independent chain"}),
            "time": ("time", times, {"units": "s", "description": "readout time"}),
            "unit": ("unit", np.arange(K), {"units": "1"}),
        },
        attrs={"neuron": sampler.neuron, "tau_s": sampler.tau, "dt_s": sampler.dt, "target": target,
               "seed": seed, "clamped": str(dict(clamped or {}))},
    )


def calibrate_lif(lif: LIFParameters, tau: float, seed: int, mean_inputs=None, duration: float = 20.0,
                  target: str = "numpy") -> LIFCalibration:
    """Measure the fraction of time a LIF unit is refractory (z = 1) as a function of its
    mean input mu, and fit sigma((mu - offset) / scale) by least squares.

    mean_inputs : drive levels to measure (default 81 points in [-4, 4], threshold units);
    duration : simulated seconds per level. All levels run side by side in one network.
    """
    from scipy.optimize import curve_fit

    mean_inputs = np.linspace(-4.0, 4.0, 81) if mean_inputs is None else np.asarray(mean_inputs, dtype=float)
    if mean_inputs.ndim != 1 or mean_inputs.size < 3 or not np.all(np.isfinite(mean_inputs)):
        raise ValueError("mean_inputs must be at least three finite drive levels")
    duration = positive("duration", duration)
    probe = SpikingBoltzmannSampler(np.zeros((1, 1)), np.zeros(1), tau=tau, neuron="lif", lif=lif,
                                    calibration=LIFCalibration(0.0, 1.0, np.zeros(0), np.zeros(0)))
    with brian_session(target, seed, name="lif_calibration") as brian2:
        units = _build_units(brian2, probe, mean_inputs.size, np.zeros(1), np.zeros(1), np.zeros(1))
        units.b = mean_inputs
        spikes = brian2.SpikeMonitor(units, name="calibration_spikes")
        brian2.Network(units, spikes).run(duration * brian2.second, namespace={})
        counts = np.bincount(np.asarray(spikes.i, dtype=np.int64), minlength=mean_inputs.size)
    on_fraction = np.clip(counts * tau / duration, 0.0, 1.0)

    def logistic(mu, offset, scale):
        return 1.0 / (1.0 + np.exp(-(mu - offset) / scale))

    (offset, scale), _ = curve_fit(logistic, mean_inputs, on_fraction, p0=(1.0, 0.3))
    error = float(np.max(np.abs(logistic(mean_inputs, offset, scale) - on_fraction)))
    return LIFCalibration(float(offset), float(scale), mean_inputs, on_fraction, error)
