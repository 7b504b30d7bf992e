"""Spiking realisation of a trained single-layer rate circuit, with its trained reliability
carried by stochastic synapses.

A trained single-layer circuit answers input x with r_k = mu_k(x) + sigma_k eps_k. Its
spiking version, for each representation neuron k:

- an ON and an OFF neuron (opponent coding) fire as inhomogeneous Poisson processes at
  rates nu0 +- g mu_k(x) / 2 (Hz), so the difference of their rates carries the trained mean;
- each of their spikes reaches a readout neuron through n_k release sites, each releasing
  one quantum with probability p_k (ON quanta excite, OFF quanta inhibit);
- the readout's net quantal count Q_k in a window of T seconds is decoded linearly,
  r_hat_k = Q_k / (n_k p_k g T).

Then E[r_hat_k] = mu_k(x), and since a spike releases B ~ Binomial(n, p) quanta with
E[B^2] = np(1 - p + np),

    Var(r_hat_k) = 2 nu0 (1 - p_k + n_k p_k) / (n_k p_k g^2 T)
                 = V_P (1 + (1 - p_k) / (n_k p_k)),       V_P = 2 nu0 / (g^2 T),

independent of x because the ON and OFF rates always sum to 2 nu0. V_P is the Poisson
floor (perfectly reliable synapses); release failures add the rest. The design puts V_P at a
fraction ``poisson_share`` of the smallest trained variance, chooses each n_k for a release
probability near ``release_probability`` and then solves p_k = 1 / (1 + n_k rho_k),
rho_k = sigma_k^2 / V_P - 1, exactly: a more reliable neuron gets more release sites, the
energy cost of ``circuits.reliability.BiophysicalCost`` (sigma^2 = m^2 (1 - p) / (np)).

Spikes are Bernoulli in steps of dt, which lowers the count variance by a factor
(1 - nu dt); at the default dt = 0.1 ms and rates of ~100 Hz that is 1%.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import xarray as xr

from circuits._validation import count, positive, steps
from circuits.brian_tools import brian_session, check_target, progress_reporter

RATE_NEURON_MODELS = ("poisson", "lif")

__all__ = ["RATE_NEURON_MODELS", "SynapticCode", "LIFRateNeuron", "LIFRateCalibration", "design_synaptic_code",
           "calibrate_lif_rates", "simulate_spiking_circuit"]


class _DropMessages(logging.Filter):
    def __init__(self, fragment: str):
        super().__init__()
        self.fragment = fragment

    def filter(self, record: logging.LogRecord) -> bool:
        return self.fragment not in record.getMessage()


@dataclass(frozen=True, eq=False)
class SynapticCode:
    """The spiking realisation's parameters (see the module docstring).

    response_mean : (S, K) trained means mu_k(x_s) for the S stimuli (response units).
    noise_std : (K,) trained noise sds sigma_k (response units).
    baseline_rate : nu0, Hz. gain : g, Hz per response unit.
    n_sites : (K,) release sites per connection. release_probability : (K,) p_k.
    window : T, seconds. fano_factor : F, the spike-count Fano factor of the ON / OFF
    neurons in a window (1 for Poisson; measured for LIF neurons by ``calibrate_lif_rates``).
    """

    response_mean: np.ndarray
    noise_std: np.ndarray
    baseline_rate: float
    gain: float
    n_sites: np.ndarray
    release_probability: np.ndarray
    window: float
    fano_factor: float = 1.0

    @property
    def on_rates(self) -> np.ndarray:
        return self.baseline_rate + 0.5 * self.gain * self.response_mean

    @property
    def off_rates(self) -> np.ndarray:
        return self.baseline_rate - 0.5 * self.gain * self.response_mean

    def decoded_variance(self) -> np.ndarray:
        """Var(r_hat_k), (K,): exact for Poisson neurons in continuous time; for neurons whose
        counts have Fano factor F, Var(Q) = E[N] np(1 - p) + Var(N) (np)^2 gives
        2 nu0 (1 - p + F n p) / (n p g^2 T)."""
        n, p = self.n_sites, self.release_probability
        return 2 * self.baseline_rate * (1 - p + self.fano_factor * n * p) / (n * p * self.gain**2 * self.window)


def design_synaptic_code(response_mean, noise_std, window: float = 1.0, poisson_share: float = 0.8,
                         release_probability: float = 0.5, min_rate: float = 20.0,
                         fano_factor: float = 1.0) -> SynapticCode:
    """Choose rates, gain and synapses so the decoded counts have the trained mean and variance.

    window : counting window T, seconds. poisson_share : V_P / min sigma_k^2 in (0, 1).
    release_probability : the p around which n_k is chosen (the final p_k is solved exactly).
    min_rate : lowest baseline rate nu0, Hz; nu0 is raised until no rate goes negative.
    fano_factor : spike-count Fano factor F of the ON / OFF neurons (1: Poisson); the
    spiking floor is then V_F = 2 nu0 F / (g^2 T) and p_k = 1 / (1 + F n_k rho_k).
    """
    response_mean = np.asarray(response_mean, dtype=float)
    noise_std = np.asarray(noise_std, dtype=float)
    if response_mean.ndim != 2 or noise_std.shape != (response_mean.shape[1],):
        raise ValueError(f"response_mean must be (S, K) and noise_std (K,); got {response_mean.shape} "
                         f"and {noise_std.shape}")
    if not np.all(np.isfinite(response_mean)) or not np.all(np.isfinite(noise_std)) or np.any(noise_std <= 0):
        raise ValueError("response_mean must be finite and noise_std finite and > 0")
    window, min_rate = positive("window", window), positive("min_rate", min_rate)
    fano_factor = positive("fano_factor", fano_factor)
    for name, value in (("poisson_share", poisson_share), ("release_probability", release_probability)):
        if not 0 < value < 1:
            raise ValueError(f"{name} must be in (0, 1), got {value}")
    floor = poisson_share * np.min(noise_std**2)
    largest = np.max(np.abs(response_mean))
    # nu0 >= g max|mu| / 2 with g = sqrt(2 nu0 F / (V_F T))  <=>  nu0 >= F max|mu|^2 / (2 V_F T); 25% margin.
    baseline = max(min_rate, 1.25 * fano_factor * largest**2 / (2 * floor * window))
    gain = np.sqrt(2 * baseline * fano_factor / (floor * window))
    excess = noise_std**2 / floor - 1  # rho_k >= 1/share - 1 > 0
    n_sites = np.maximum(1, np.round((1 - release_probability) / (release_probability * fano_factor * excess)))
    n_sites = n_sites.astype(int)
    probability = 1 / (1 + fano_factor * n_sites * excess)
    return SynapticCode(response_mean, noise_std, float(baseline), float(gain), n_sites, probability, window,
                        fano_factor)


@dataclass(frozen=True)
class LIFRateNeuron:
    """The ON / OFF neuron as leaky integrate-and-fire, driven by the rate circuit's input.

    Dimensionless potential (rest 0, threshold 1, reset 0):
    tau_m dv/dt = I - v + noise sqrt(2 tau_m) xi, with I the drive (threshold units).
    membrane_time_constant, refractory, dt : seconds. noise : sd of the free membrane.
    The defaults put the neuron in the fluctuation-driven regime, where its spike counts are
    nearly Poisson: measured Fano factor 1.0-1.2 from 4 to 90 Hz (windows of 0.5 s), 0.9 at
    160 Hz. A slower, less noisy membrane fires more regularly (Fano 0.2 at 100 Hz for
    tau_m = 10 ms, noise 0.5), which would make the decoded variance depend on the input.
    """

    membrane_time_constant: float = 0.002
    noise: float = 1.0
    refractory: float = 0.001
    dt: float = 0.0001

    def __post_init__(self):
        for name in ("membrane_time_constant", "noise", "refractory", "dt"):
            object.__setattr__(self, name, positive(name, getattr(self, name)))

    def equations(self) -> str:
        return "dv/dt = (drive - v) / tau_m + noise * sqrt(2 / tau_m) * xi : 1 (unless refractory)"

    def namespace(self, brian2) -> dict:
        return {"tau_m": self.membrane_time_constant * brian2.second, "noise": self.noise}


@dataclass(frozen=True, eq=False)
class LIFRateCalibration:
    """Measured rate (Hz) and spike-count Fano factor (windows of ``window`` s) against drive."""

    neuron: LIFRateNeuron
    drive: np.ndarray
    rate: np.ndarray
    fano: np.ndarray
    window: float

    def drive_for(self, rate) -> np.ndarray:
        """The drive that gives ``rate`` (Hz), by linear interpolation of the measured curve."""
        rate = np.asarray(rate, dtype=float)
        increasing = np.maximum.accumulate(self.rate)
        if np.any(rate < increasing[0]) or np.any(rate > increasing[-1]):
            raise ValueError(f"rates must lie in the calibrated range [{increasing[0]:.1f}, {increasing[-1]:.1f}] Hz; "
                             f"got [{rate.min():.1f}, {rate.max():.1f}]")
        return np.interp(rate, increasing, self.drive)

    def typical_fano(self, low: float = 10.0, high: float = 120.0) -> float:
        """Median measured Fano factor over the calibration points with rates in [low, high] Hz."""
        inside = (self.rate >= low) & (self.rate <= high)
        if not np.any(inside):
            raise ValueError(f"no calibration point has a rate in [{low}, {high}] Hz")
        return float(np.median(self.fano[inside]))


def calibrate_lif_rates(neuron: LIFRateNeuron, seed: int, window: float = 1.0, drives=None,
                        n_replicates: int = 160, n_windows: int = 10, target: str = "numpy") -> LIFRateCalibration:
    """Simulate unconnected LIF neurons at a grid of drives (all in one network) and measure the
    rate and the Fano factor of their spike counts in windows of ``window`` seconds.

    n_replicates : neurons per drive. The calibration's own noise biases every decoded mean of
        the spiking circuit it calibrates: with 40, one of four seeds had decoded means off the
        rate circuit's by up to 4.5 SE; with 160, at most 2.8 SE on the same four.
    """
    check_target(target)
    drives = np.linspace(-2.5, 0.5, 61) if drives is None else np.asarray(drives, dtype=float)
    if drives.ndim != 1 or drives.size < 2 or np.any(np.diff(drives) <= 0):
        raise ValueError("drives must be an increasing sequence of at least two values")
    n_replicates, n_windows = count("n_replicates", n_replicates, 2), count("n_windows", n_windows, 1)
    steps_per_window = steps("window", positive("window", window), neuron.dt)
    with brian_session(target, seed, name="lif_rate_calibration") as brian2:
        group = brian2.NeuronGroup(drives.size * n_replicates, neuron.equations() + "\ndrive : 1 (constant)",
                                   threshold="v > 1", reset="v = 0", refractory=neuron.refractory * brian2.second,
                                   method="euler", namespace=neuron.namespace(brian2), dt=neuron.dt * brian2.second,
                                   name="calibration_neurons")
        group.drive = np.repeat(drives, n_replicates)
        spikes = brian2.SpikeMonitor(group, name="calibration_spikes")
        brian2.Network(group, spikes).run(n_windows * window * brian2.second, namespace={})
        step_of_spike = np.round(np.asarray(spikes.t / brian2.second) / neuron.dt).astype(np.int64)
        neuron_of_spike = np.asarray(spikes.i, dtype=np.int64)
    counts = np.zeros((drives.size * n_replicates, n_windows))
    np.add.at(counts, (neuron_of_spike, np.minimum(step_of_spike // steps_per_window, n_windows - 1)), 1)
    counts = counts.reshape(drives.size, -1)
    mean = counts.mean(1)
    fano = np.divide(counts.var(1, ddof=1), mean, out=np.ones_like(mean), where=mean > 0)
    return LIFRateCalibration(neuron, drives, mean / window, fano, window)


def simulate_spiking_circuit(code: SynapticCode, n_trials: int, seed: int, dt: float = 0.0001,
                             target: str = "numpy", progress: bool = False,
                             calibration: LIFRateCalibration | None = None) -> xr.Dataset:
    """Present the S stimuli one after another (each for one window) to n_trials copies of the
    circuit in one Brian2 network; count spikes and quanta per window.

    The ON / OFF neurons are inhomogeneous Poisson neurons, or, with a ``calibration``, LIF
    neurons (its ``neuron``, at its dt) driven by the drive that the calibration maps to each
    rate; the code should then have been designed with the calibration's Fano factor.

    Returns a Dataset with ``decoded`` (stimulus, trial, latent) in response units,
    ``quanta`` (stimulus, trial, latent) net quantal counts and ``spike_count``
    (stimulus, trial, latent, polarity) of the ON / OFF neurons.
    """
    check_target(target)
    n_trials = count("n_trials", n_trials, 1)
    dt = positive("dt", dt) if calibration is None else calibration.neuron.dt
    steps_per_window = steps("window", code.window, dt)
    n_stimuli, K = code.response_mean.shape
    # Fibre index: ((trial * K) + k) * 2 + polarity (0 = ON, 1 = OFF); readout index trial * K + k.
    rates = np.stack([code.on_rates, code.off_rates], axis=-1)  # (S, K, 2)
    rate_table = np.tile(rates.reshape(n_stimuli, 1, K * 2), (1, n_trials, 1)).reshape(n_stimuli, -1)
    if calibration is None and np.max(rate_table) * dt > 0.1:
        raise ValueError(f"dt = {dt} s is too long for rates up to {np.max(rate_table):.0f} Hz (need rate * dt <= 0.1)")
    readout_of_fibre = np.arange(rate_table.shape[1]) // 2
    sign_of_fibre = np.where(np.arange(rate_table.shape[1]) % 2 == 0, 1.0, -1.0)
    unit_of_fibre = readout_of_fibre % K
    sites = code.n_sites[unit_of_fibre]

    with brian_session(target, seed, name=f"spiking_circuit_K{K}") as brian2:
        second = brian2.second
        # The rate (or drive) of each neuron changes only between windows: a run_regularly
        # operation copies it from the table once per window instead of every step.
        if calibration is None:
            table = brian2.TimedArray(rate_table * brian2.Hz, dt=code.window * second, name="rate_table")
            fibres = brian2.NeuronGroup(rate_table.shape[1], "rate : Hz", threshold="rand() < rate * dt",
                                        dt=dt * second, name="on_off_neurons")
            fibres.run_regularly("rate = rate_table(t, i)", dt=code.window * second, when="start",
                                 name="set_rates")
        else:
            neuron = calibration.neuron
            table = brian2.TimedArray(calibration.drive_for(rate_table), dt=code.window * second, name="drive_table")
            fibres = brian2.NeuronGroup(rate_table.shape[1], neuron.equations() + "\ndrive : 1", threshold="v > 1",
                                        reset="v = 0", refractory=neuron.refractory * second, method="euler",
                                        namespace=neuron.namespace(brian2), dt=dt * second, name="on_off_neurons")
            fibres.run_regularly("drive = drive_table(t, i)", dt=code.window * second, when="start",
                                 name="set_drives")
        fibres.namespace[table.name] = table
        readout = brian2.NeuronGroup(n_trials * K, "quanta : 1", dt=dt * second, name="readout")
        synapses = brian2.Synapses(fibres, readout, "polarity_sign : 1 (constant)\np_release : 1 (constant)",
                                   on_pre="quanta_post += polarity_sign * int(rand() < p_release)", dt=dt * second,
                                   name="release_sites")
        # One synapse per release site: n_k parallel synapses per fibre.
        synapses.connect(i=np.repeat(np.arange(rate_table.shape[1]), sites), j=np.repeat(readout_of_fibre, sites))
        synapses.polarity_sign = np.repeat(sign_of_fibre, sites)
        synapses.p_release = np.repeat(code.release_probability[unit_of_fibre], sites)
        # Cumulative quanta read at the start of every window (before that step's spikes); the
        # total after the last step closes the last window.
        counter = brian2.StateMonitor(readout, "quanta", record=True, dt=code.window * second, name="quanta_counter")
        spikes = brian2.SpikeMonitor(fibres, name="fibre_spikes")
        network = brian2.Network(fibres, readout, synapses, counter, spikes)
        # Brian2 warns that "+= ... rand()" on a shared target may depend on execution order;
        # here it does not (a sum of independent releases), so that one message is dropped.
        order_warnings = logging.getLogger("brian2.codegen.generators.base")
        order_filter = _DropMessages("may not be well-defined")
        order_warnings.addFilter(order_filter)
        report, bar = progress_reporter(progress and target != "cpp_standalone", "spiking circuit")
        try:
            network.run(n_stimuli * code.window * second, report=report, namespace={})
        finally:
            order_warnings.removeFilter(order_filter)
        if bar is not None:
            bar.close()
        starts = np.asarray(counter.quanta)[:, :n_stimuli]
        cumulative = np.column_stack([starts, np.asarray(readout.quanta[:])])  # (readout, S + 1)
        spike_times = np.asarray(spikes.t / second)
        spike_fibres = np.asarray(spikes.i, dtype=np.int64)

    quanta = np.diff(cumulative, axis=1).T.reshape(n_stimuli, n_trials, K)
    window_index = np.minimum(np.round(spike_times / dt).astype(np.int64) // steps_per_window, n_stimuli - 1)
    spike_count = np.zeros((n_stimuli, rate_table.shape[1]), dtype=np.int64)
    np.add.at(spike_count, (window_index, spike_fibres), 1)
    spike_count = spike_count.reshape(n_stimuli, n_trials, K, 2)
    decoded = quanta / (code.n_sites * code.release_probability * code.gain * code.window)
    return xr.Dataset(
        {
            "decoded": (("stimulus", "trial", "latent"), decoded,
                        {"units": "1", "description": "Q / (n p g T): decoded response, response units"}),
            "quanta": (("stimulus", "trial", "latent"), quanta,
                       {"units": "quanta", "description": "net quanta (ON minus OFF) received by the readout"}),
            "spike_count": (("stimulus", "trial", "latent", "polarity"), spike_count,
                            {"units": "spikes", "description": "spikes of the ON / OFF neurons in the window"}),
        },
        coords={
            "stimulus": ("stimulus", np.arange(n_stimuli), {"units": "1"}),
            "trial": ("trial", np.arange(n_trials), {"units": "1"}),
            "latent": ("latent", np.arange(K), {"units": "1"}),
            "polarity": ("polarity", ["on", "off"], {"units": "1"}),
        },
        attrs={"window_s": code.window, "dt_s": dt, "target": target, "seed": seed},
    )
