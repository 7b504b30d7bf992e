"""Spike-based samplers on Brian2 (numpy target): exact single-neuron limits, clamping,
reproducibility, validation, and the monitor export.

False alarms: the on-fraction of uncoupled units is within 6 SE of sigma(u) (SE over 60
independent trials, t with 59 dof: two-sided 5e-7 per unit); the compiled targets' state
frequencies within 4.5 SE (stated in the test). The LIF sampler is an approximation, so it
is compared with the exact distribution only against the uncoupled one (KL a quarter of
it), not within SEs; the calibration's fit bar (0.1) is its model error, not sampling.
Seeds are fixed, so a run is never flaky."""

import numpy as np
import pytest
from scipy.special import expit

from analysis.generative import BoltzmannMachine, state_bits, state_index
from circuits.brian_tools import (
    brian_session,
    cache_directory,
    check_target,
    rate_monitor_to_dataset,
    spike_monitor_to_dataset,
    state_monitor_to_dataset,
)
from circuits.spiking import (
    LIFCalibration,
    LIFParameters,
    SpikingBoltzmannSampler,
    calibrate_lif,
    simulate_sampler,
)


def _symmetric(rng, n, scale=0.5):
    upper = np.triu(rng.normal(0, scale, (n, n)), 1)
    return upper + upper.T


def test_uncoupled_units_are_on_a_logistic_fraction_of_the_time():
    # A single unit with fixed potential u is on a fraction sigma(u) of the time, exactly
    # for the discrete-time neuron; independent trials give an honest standard error.
    biases = np.array([-1.5, 0.0, 1.0])
    sampler = SpikingBoltzmannSampler(np.zeros((3, 3)), biases)
    run = simulate_sampler(sampler, duration=4.0, seed=11, n_trials=60)
    per_trial = run["z"].values[:, 10:].mean(axis=1)  # (trial, unit)
    mean = per_trial.mean(axis=0)
    standard_error = per_trial.std(axis=0, ddof=1) / np.sqrt(per_trial.shape[0])
    assert np.all(np.abs(mean - expit(biases)) < 6 * standard_error)


def test_state_is_on_for_exactly_tau_after_each_spike():
    # A unit that always fires when allowed (clamped on) is on at every readout; a unit
    # clamped off never spikes. Read every step to see single-step gaps if there were any.
    sampler = SpikingBoltzmannSampler(np.zeros((2, 2)), np.zeros(2))
    run = simulate_sampler(sampler, duration=0.2, seed=3, n_trials=2, clamped={0: 1, 1: 0},
                           sample_interval=sampler.dt)
    assert np.all(run["z"].values[:, :, 0] == 1)
    assert np.all(run["z"].values[:, :, 1] == 0)
    assert np.all(run["spike_count"].values[:, 1] == 0)
    # Spikes every tau (re-firing in the last refractory step): 0.2 s / 20 ms + the first.
    assert np.all(run["spike_count"].values[:, 0] == 11)


def test_same_seed_same_states_and_the_global_numpy_stream_is_untouched():
    rng = np.random.default_rng(0)
    sampler = SpikingBoltzmannSampler(_symmetric(rng, 4), rng.normal(size=4))
    np.random.seed(123)
    first = simulate_sampler(sampler, 1.0, seed=5, n_trials=3)
    after = np.random.random()
    np.random.seed(123)
    second = simulate_sampler(sampler, 1.0, seed=5, n_trials=3)
    assert np.random.random() == after
    other = simulate_sampler(sampler, 1.0, seed=6, n_trials=3)
    np.testing.assert_array_equal(first["z"].values, second["z"].values)
    assert not np.array_equal(first["z"].values, other["z"].values)
    assert first["time"].attrs["units"] == "s"
    np.testing.assert_allclose(first["time"].values, np.arange(1, 51) * 0.02)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(weights=[[0, 1], [0.5, 0]], biases=[0, 0]), "symmetric"),
        (dict(weights=[[1, 0], [0, 0]], biases=[0, 0]), "diagonal"),
        (dict(weights=[[0, np.nan], [np.nan, 0]], biases=[0, 0]), "finite"),
        (dict(weights=np.zeros((2, 2)), biases=[0, 0, 0]), "biases"),
        (dict(weights=np.zeros((2, 2)), biases=[0, 0], tau=0.0), "tau"),
        (dict(weights=np.zeros((2, 2)), biases=[0, 0], tau=-0.02), "tau"),
        (dict(weights=np.zeros((2, 2)), biases=[0, 0], tau=0.0203), "tau"),
        (dict(weights=np.zeros((2, 2)), biases=[0, 0], neuron="izhikevich"), "neuron"),
        (dict(weights=np.zeros((2, 2)), biases=[0, 0], neuron="lif"), "calibration"),
    ],
)
def test_bad_sampler_parameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SpikingBoltzmannSampler(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(duration=0.0), "duration"),
        (dict(duration=-1.0), "duration"),
        (dict(duration=0.03), "duration"),
        (dict(duration=1.0, n_trials=0), "n_trials"),
        (dict(duration=1.0, clamped={5: 1}), "clamped unit"),
        (dict(duration=1.0, clamped={0: 2}), "clamped value"),
        (dict(duration=1.0, target="gpu"), "target"),
    ],
)
def test_bad_simulation_arguments_are_refused(kwargs, match):
    sampler = SpikingBoltzmannSampler(np.zeros((2, 2)), np.zeros(2))
    with pytest.raises(ValueError, match=match):
        simulate_sampler(sampler, seed=1, **kwargs)


def test_lif_calibration_is_a_rising_logistic_and_the_lif_sampler_carries_the_couplings():
    lif = LIFParameters()
    calibration = calibrate_lif(lif, 0.02, seed=2, mean_inputs=np.linspace(-4, 3, 15), duration=2.0)
    assert calibration.scale > 0
    assert calibration.max_abs_error < 0.1
    assert calibration.on_fraction[-1] > 0.9 and calibration.on_fraction[0] < 0.1

    from analysis.compare import discrete_kl, state_histogram
    from analysis.generative import BoltzmannMachine

    W = np.array([[0.0, 2.0, 0.0], [2.0, 0.0, -2.0], [0.0, -2.0, 0.0]])
    b = np.array([-1.0, -0.5, 1.0])
    sampler = SpikingBoltzmannSampler(W, b, neuron="lif", lif=lif, calibration=calibration)
    run = simulate_sampler(sampler, 1.0, seed=4, n_trials=40)
    histogram = state_histogram(run["z"].values[:, 5:])
    coupled = discrete_kl(histogram, BoltzmannMachine(W, b).probabilities())
    uncoupled = discrete_kl(histogram, BoltzmannMachine(np.zeros((3, 3)), b).probabilities())
    assert coupled < 0.25 * uncoupled


def test_lif_needs_its_dt_to_divide_tau():
    calibration = LIFCalibration(0.0, 1.0, np.zeros(0), np.zeros(0))
    with pytest.raises(ValueError, match="tau"):
        SpikingBoltzmannSampler(np.zeros((1, 1)), np.zeros(1), tau=0.02005, neuron="lif",
                                lif=LIFParameters(dt=0.0001), calibration=calibration)
    with pytest.raises(ValueError, match="reset"):
        LIFParameters(reset=1.0)


def test_monitors_export_to_xarray_with_units_and_neuron_coordinates():
    with brian_session("numpy", seed=1) as brian2:
        group = brian2.NeuronGroup(3, "v : volt\nrate_hz : Hz", threshold="rand() < 0.5", name="g")
        group.v = [1, 2, 3] * brian2.mV
        group.rate_hz = [5, 6, 7] * brian2.Hz
        states = brian2.StateMonitor(group, ["v", "rate_hz"], record=[0, 2], name="g_states")
        spikes = brian2.SpikeMonitor(group, name="g_spikes")
        population = brian2.PopulationRateMonitor(group, name="g_rate")
        brian2.Network(group, states, spikes, population).run(5 * brian2.ms, namespace={})
        state_ds = state_monitor_to_dataset(states, ["v", "rate_hz"], neuron_coords={"trial": [0, 0, 1]})
        spike_ds = spike_monitor_to_dataset(spikes, neuron_coords={"trial": [0, 0, 1]})
        rate_ds = rate_monitor_to_dataset(population)
        smooth_ds = rate_monitor_to_dataset(population, smoothing_width=0.001)
        n_spikes = len(spikes.t)
    assert state_ds["v"].dims == ("time", "neuron")
    assert state_ds["v"].attrs["units"] == "V" and state_ds["rate_hz"].attrs["units"] == "Hz"
    np.testing.assert_allclose(state_ds["v"].values[0], [0.001, 0.003])
    np.testing.assert_array_equal(state_ds["trial"].values, [0, 1])
    assert state_ds["time"].attrs["units"] == "s" and state_ds.sizes["time"] == 50
    assert spike_ds["spike_count"].sum() == n_spikes == spike_ds.sizes["spike"]
    assert spike_ds["spike_time"].attrs["units"] == "s"
    # The population rate integrates to the spike count: sum(rate) * dt * N = spikes.
    assert rate_ds["rate"].attrs["units"] == "Hz" and rate_ds.sizes["time"] == 50
    assert rate_ds["rate"].sum() * 1e-4 * 3 == pytest.approx(n_spikes)
    assert smooth_ds.sizes["time"] == 50
    with pytest.raises(ValueError, match="trial"):
        spike_monitor_to_dataset(spikes, neuron_coords={"trial": [0, 1]})


def test_targets_and_cache_directory_are_project_controlled(monkeypatch, tmp_path):
    monkeypatch.setenv("SAMPLING_CIRCUITS_CACHE", str(tmp_path / "cache"))
    assert cache_directory() == tmp_path / "cache"
    with pytest.raises(ValueError, match="target"):
        check_target("cuda")


@pytest.mark.parametrize("target", ["cpp_standalone", "cython"])
def test_compiled_targets_sample_the_exact_boltzmann_distribution(target):
    """The compiled targets run the same model as the numpy target: the state distribution of
    60 independent chains (2 s each, after 0.2 s of burn-in) against exact enumeration of a
    random 3-unit machine. Per state, the chains' mean frequency within 4.5 SE of the exact
    probability, with the SE from the spread over chains (it includes the autocorrelation
    within a chain); t with 59 dof: two-sided false alarm 3e-5 per state, 3e-4 for the 8.
    The compiled targets draw other random numbers than numpy's, so this cannot be an
    identity check. Catches a target that drops the couplings or the refractory dynamics."""
    W, b = _symmetric(np.random.default_rng(4), 3, scale=1.0), np.array([0.5, -0.8, 0.2])
    machine = BoltzmannMachine(W, b)
    run = simulate_sampler(SpikingBoltzmannSampler(W, b), duration=2.0, seed=5, n_trials=60, target=target)
    indices = state_index(run["z"].values[:, 10:])  # (trial, readout)
    per_chain = np.stack([np.bincount(chain, minlength=8) / chain.size for chain in indices])
    standard_error = per_chain.std(axis=0, ddof=1) / np.sqrt(per_chain.shape[0])
    assert np.all(np.abs(per_chain.mean(axis=0) - machine.probabilities()) < 4.5 * standard_error)
    # Couplings matter here: the product of the marginals is rejected by the same statistic.
    marginals = machine.marginals()
    product = np.prod(np.where(state_bits(np.arange(8), 3).astype(bool), marginals, 1 - marginals), axis=1)
    assert np.any(np.abs(per_chain.mean(axis=0) - product) > 4.5 * standard_error)
