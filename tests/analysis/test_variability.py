"""Variability statistics against exact values: closed forms, brute force, or known
distributions with tolerances from their standard errors.

False alarms: 4 SE bars (two-sided Gaussian 6e-5 each); the prior-KL bars are 10x the
plug-in bias, which a correct estimate exceeds with probability below 1e-6 (chi-square).
Seeds are fixed, so a run is never flaky."""

import numpy as np
import pytest

from analysis.compare import gaussian_kl
from analysis.variability import (
    autocorrelation,
    band_power,
    fano_factor,
    jackknife_se,
    noise_correlations,
    noise_covariance,
    poisson_counts,
    power_spectrum,
    signal_correlations,
    spontaneous_vs_prior,
    trial_moments,
)


def test_fano_jackknife_matches_brute_force_leave_one_out():
    rng = np.random.default_rng(0)
    counts = rng.poisson(2.5, size=(50, 3))
    fano, se, replicates = fano_factor(counts, 0, return_replicates=True)
    for neuron in range(3):
        brute = [np.var(np.delete(counts[:, neuron], i), ddof=1) / np.delete(counts[:, neuron], i).mean()
                 for i in range(50)]
        np.testing.assert_allclose(replicates[:, neuron], brute, rtol=1e-12)
        assert se[neuron] == pytest.approx(jackknife_se(brute))
    np.testing.assert_allclose(fano, counts.var(0, ddof=1) / counts.mean(0))


def test_fano_of_poisson_counts_is_one_within_standard_errors():
    rng = np.random.default_rng(1)
    counts = rng.poisson(4.0, size=(4000, 6))
    fano, se = fano_factor(counts, 0, pool_axes=(1,))
    # Var of the sample Fano factor of Poisson counts is ~ 2 / (n - 1): the jackknife agrees.
    assert se == pytest.approx(np.sqrt(2 / 3999 / 6), rel=0.2)
    assert abs(fano - 1.0) < 4 * se


def test_fano_rejects_silent_neurons_and_too_few_trials():
    with pytest.raises(ValueError, match="mean count is 0"):
        fano_factor(np.zeros((10, 2)), 0)
    with pytest.raises(ValueError, match="at least 3 trials"):
        fano_factor(np.ones((2, 2)), 0)


def test_poisson_counts_mean_is_rate_times_window():
    rng = np.random.default_rng(2)
    rates = np.full((2000, 100), 20.0)  # Hz, 100 steps of 1 ms
    counts = poisson_counts(rates, 0.001, 50, rng)
    assert counts.shape == (2000, 2)
    expected = 20.0 * 0.05
    assert abs(counts.mean() - expected) < 4 * np.sqrt(expected / counts.size)
    with pytest.raises(ValueError, match="rates"):
        poisson_counts(-rates, 0.001, 50, rng)


def test_noise_and_signal_correlations_match_numpy():
    rng = np.random.default_rng(3)
    responses = rng.normal(size=(5, 200, 3)) @ np.array([[1, 0.5, 0], [0, 1, 0.2], [0, 0, 1]])
    responses += rng.normal(size=(5, 1, 3))  # a different mean per stimulus: signal
    for s in range(5):
        np.testing.assert_allclose(noise_covariance(responses)[s], np.cov(responses[s], rowvar=False))
        np.testing.assert_allclose(noise_correlations(responses)[s], np.corrcoef(responses[s], rowvar=False))
    np.testing.assert_allclose(signal_correlations(responses), np.corrcoef(responses.mean(1), rowvar=False))


def test_trial_moments_variance_standard_error_for_gaussians():
    rng = np.random.default_rng(4)
    samples = rng.normal(0, 2.0, size=(5000, 3))
    moments = trial_moments(samples, trial_axis=0)
    # For Gaussian data Var(s^2) = 2 sigma^4 / (n - 1).
    np.testing.assert_allclose(moments["variance_se"], np.sqrt(2 / 4999) * 4.0, rtol=0.1)
    assert np.all(np.abs(moments["variance"] - 4.0) < 4 * moments["variance_se"])


def test_band_power_of_a_sinusoid_is_half_its_squared_amplitude():
    dt = 0.001
    time = np.arange(4000) * dt
    signal = 3.0 * np.sin(2 * np.pi * 40.0 * time)
    frequencies, psd = power_spectrum(signal, dt, segment=0.5)
    assert band_power(frequencies, psd, (20, 80)) == pytest.approx(4.5, rel=0.02)
    assert band_power(frequencies, psd, (100, 200)) < 1e-3
    with pytest.raises(ValueError, match="band"):
        band_power(frequencies, psd, (80, 20))


def test_autocorrelation_of_an_ar1_process():
    rng = np.random.default_rng(5)
    phi, n = 0.8, 200_000
    noise = rng.normal(size=n)
    series = np.empty(n)
    series[0] = noise[0]
    for t in range(1, n):
        series[t] = phi * series[t - 1] + noise[t]
    rho = autocorrelation(series)
    np.testing.assert_allclose(rho[:4], phi ** np.arange(4), atol=0.01)


def test_spontaneous_vs_prior_is_near_zero_for_prior_samples():
    rng = np.random.default_rng(6)
    prior_cov = np.array([[1.0, 0.4], [0.4, 2.0]])
    chol = np.linalg.cholesky(prior_cov)
    spontaneous = rng.normal(size=(20000, 2)) @ chol.T
    evoked = rng.normal(size=(50, 400, 2)) @ chol.T
    result = spontaneous_vs_prior(spontaneous, evoked, prior_cov)
    # A moment-matched Gaussian KL from n samples is ~ (k + k(k+1)/2) / (2n) = 5 / (2n) on average.
    assert result["kl_spontaneous_prior"] < 10 * 5 / (2 * 20000)
    assert result["kl_evoked_prior"] < 10 * 5 / (2 * 20000)
    shifted = spontaneous + 1.0
    assert spontaneous_vs_prior(shifted, evoked, prior_cov)["kl_spontaneous_prior"] == pytest.approx(
        float(gaussian_kl(shifted.mean(0), np.cov(shifted, rowvar=False), np.zeros(2), prior_cov)))
