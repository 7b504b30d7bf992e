"""Spiking realisation of a rate circuit: the synaptic design is exact, and the simulated
counts have the designed mean and variance (tolerances from the sampling distributions)."""

import numpy as np
import pytest

from circuits.spiking_rate import design_synaptic_code, simulate_spiking_circuit


def test_design_gives_the_trained_variance_and_non_negative_rates():
    rng = np.random.default_rng(0)
    mean = rng.normal(0, 2, (7, 5))
    noise_std = np.array([0.2, 0.3, 0.5, 0.8, 1.3])
    code = design_synaptic_code(mean, noise_std, window=0.5)
    np.testing.assert_allclose(code.decoded_variance(), noise_std**2, rtol=1e-12)
    assert np.all(code.off_rates >= 0) and np.all(code.on_rates >= 0)
    assert np.all(code.n_sites >= 1) and np.all((code.release_probability > 0) & (code.release_probability <= 1))
    # A more reliable neuron is given at least as many release sites.
    assert np.all(np.diff(code.n_sites) <= 0)
    np.testing.assert_allclose(code.on_rates - code.off_rates, code.gain * mean)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(noise_std=[0.0, 1.0]), "noise_std"),
        (dict(noise_std=[1.0, 1.0, 1.0]), "noise_std"),
        (dict(window=0.0), "window"),
        (dict(poisson_share=1.0), "poisson_share"),
        (dict(release_probability=0.0), "release_probability"),
    ],
)
def test_bad_design_input_is_refused(kwargs, match):
    arguments = {"response_mean": np.zeros((3, 2)), "noise_std": [0.5, 1.0], **kwargs}
    with pytest.raises(ValueError, match=match):
        design_synaptic_code(**arguments)


def test_simulated_counts_have_the_designed_mean_and_variance():
    mean = np.array([[1.0, -0.5], [-2.0, 0.3], [0.0, 1.5]])
    noise_std = np.array([0.4, 0.7])
    code = design_synaptic_code(mean, noise_std, window=0.2)
    trials = 400
    run = simulate_spiking_circuit(code, trials, seed=3)
    decoded = run["decoded"].values  # (stimulus, trial, latent)
    # Sample mean: standard error sigma / sqrt(n). Sample variance: sd sigma^2 sqrt(2 / (n - 1))
    # (Gaussian limit; the counts are sums of many events). Bernoulli steps of 0.1 ms lower the
    # variance by (1 - rate dt) < 2%, well inside the bound.
    assert np.all(np.abs(decoded.mean(1) - mean) < 6 * noise_std / np.sqrt(trials))
    ratio = decoded.var(1, ddof=1) / noise_std**2
    assert np.all(np.abs(ratio - 1) < 6 * np.sqrt(2 / (trials - 1)))
    # Spike counts: ON + OFF rates sum to 2 nu0 in every window.
    total = run["spike_count"].values.sum(-1).mean(1)
    expected = 2 * code.baseline_rate * code.window
    assert np.all(np.abs(total - expected) < 6 * np.sqrt(expected / trials))


def test_same_seed_same_counts_and_the_window_must_fit_the_step():
    code = design_synaptic_code(np.zeros((1, 2)), np.array([0.5, 0.5]), window=0.1)
    first = simulate_spiking_circuit(code, 50, seed=9)
    second = simulate_spiking_circuit(code, 50, seed=9)
    np.testing.assert_array_equal(first["quanta"].values, second["quanta"].values)
    with pytest.raises(ValueError, match="multiple of dt"):
        simulate_spiking_circuit(code, 5, seed=1, dt=0.00015)
