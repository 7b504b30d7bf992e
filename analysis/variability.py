"""Variability of sampled responses, the signatures that tell a sampling code from others.

- across repeated trials: Fano factor of spike counts (with its jackknife standard error),
  noise covariance and noise correlations, and their time courses around stimulus onset
  (Churchland et al. 2010 report the quench of both at onset);
- across stimuli: signal correlations (the correlation of trial-averaged responses);
- along a trial: autocorrelation, effective sample size, and Welch power spectra with the
  power in a band (gamma, 20-80 Hz; Echeveste et al. 2020);
- spontaneous vs evoked vs the prior (Berkes, Orban, Lengyel & Fiser 2011): with a blank
  stimulus the posterior is the prior, and the average of posteriors over stimuli drawn from
  the model is the prior too;
- the plug-in KL bias floor that a finite, correlated sample cannot beat.

Arrays are NumPy; the trial axis is named by the caller. Units follow the inputs (counts are
counts, rates Hz, time seconds).
"""

from __future__ import annotations

import numpy as np

from analysis import _validation as check

__all__ = ["effective_sample_size", "plugin_kl_floor", "state_indicator_ess", "autocorrelation", "jackknife_se",
           "fano_factor", "poisson_counts", "noise_covariance", "noise_correlations", "signal_correlations",
           "trial_moments", "power_spectrum", "band_power", "spontaneous_vs_prior"]


def effective_sample_size(samples, chain_axis: int | None = 0, draw_axis: int = 1) -> np.ndarray:
    """Effective sample size of the mean of each series, pooled over chains.

    Uses the well-tested estimator of ``arviz_stats`` (method ``"mean"``: autocorrelations
    from all chains combined, summed with Geyer's initial monotone sequence; Vehtari,
    Gelman, Simpson, Carpenter & Buerkner 2021). ``samples`` has a chain axis (or None for a
    single chain) and a draw axis; the result has the remaining axes.
    """
    from arviz_stats.base import array_stats

    samples = np.asarray(samples, dtype=float)
    if chain_axis is None:
        samples = samples[np.newaxis]
        chain_axis, draw_axis = 0, draw_axis + 1 if draw_axis >= 0 else draw_axis
    if samples.shape[draw_axis] < 4:
        raise ValueError(f"need at least 4 draws per chain, got {samples.shape[draw_axis]}")
    if not np.all(np.isfinite(samples)):
        raise ValueError("samples must be finite")
    return np.asarray(array_stats.ess(samples, chain_axis=chain_axis, draw_axis=draw_axis, method="mean"))


def state_indicator_ess(state_indices, n_states: int) -> np.ndarray:
    """ESS of the indicator 1[s(t) = s] for every state s, from state indices (chain, draw).

    States never visited, or visited at every draw, have no defined ESS: NaN.
    """
    state_indices = np.asarray(state_indices)
    if state_indices.ndim != 2:
        raise ValueError(f"state_indices must be (chain, draw), got shape {state_indices.shape}")
    ess = np.full(n_states, np.nan)
    visits = np.bincount(state_indices.reshape(-1), minlength=n_states)
    for state in np.flatnonzero((visits > 0) & (visits < state_indices.size)):
        ess[state] = effective_sample_size(state_indices == state, 0, 1)
    return ess


def plugin_kl_floor(n_states: int, n_effective) -> np.ndarray:
    """Expected plug-in KL(histogram || p) from n_effective independent draws:
    (n_states - 1) / (2 n_effective), nats (the chi-square limit of the multinomial
    log-likelihood ratio; valid once every state is expected to be visited several times)."""
    n_states = int(check.count("n_states", n_states, 2))
    n_effective = np.asarray(n_effective, dtype=float)
    if np.any(~np.isfinite(n_effective)) or np.any(n_effective <= 0):
        raise ValueError("n_effective must be finite and > 0")
    return (n_states - 1) / (2.0 * n_effective)


def autocorrelation(series, draw_axis: int = -1) -> np.ndarray:
    """Normalised autocorrelation of each series at lags 0, 1, ... along ``draw_axis`` (lag 0 is 1),
    by ``arviz_stats`` (FFT, biased estimator, as used for ESS)."""
    from arviz_stats.base import array_stats

    series = np.asarray(series, dtype=float)
    if series.shape[draw_axis] < 2 or not np.all(np.isfinite(series)):
        raise ValueError("series must be finite with at least 2 draws")
    return np.asarray(array_stats.autocorr(series, axis=draw_axis))


def _trials(name: str, values, trial_axis: int, minimum: int = 2) -> np.ndarray:
    values = np.asarray(values, dtype=float)
    if values.ndim == 0 or values.shape[trial_axis] < minimum:
        raise ValueError(f"{name} needs at least {minimum} trials along axis {trial_axis}, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} must be finite")
    return values


def jackknife_se(replicates, axis: int = 0) -> np.ndarray:
    """Jackknife standard error from n leave-one-out replicates along ``axis``:
    sqrt((n - 1) / n * sum (replicate - mean)^2) (Efron & Stein 1981)."""
    replicates = np.asarray(replicates, dtype=float)
    n = replicates.shape[axis]
    return np.sqrt((n - 1) / n * ((replicates - replicates.mean(axis, keepdims=True)) ** 2).sum(axis))


def fano_factor(counts, trial_axis: int = 0, pool_axes: tuple[int, ...] = (), return_replicates: bool = False):
    """Fano factor Var / mean of spike counts across trials, with its jackknife standard error.

    pool_axes : axes of ``counts`` (numbered as in ``counts``) to average the Fano factor
        over (neurons, windows); the standard error is then that of the average, from the
        same leave-one-trial-out replicates, so correlations between neurons are accounted for.
    return_replicates : also return the n leave-one-out replicates (trial axis first), e.g.
        to get the standard error of a difference of two Fano factors from the same trials.

    The jackknife needs no distributional assumption about the counts (Efron & Stein 1981).
    Where a mean count is 0 the Fano factor is undefined: ValueError, never NaN.
    Returns (fano, se) or (fano, se, replicates).
    """
    counts = _trials("counts", counts, trial_axis, 3)
    trial_axis = trial_axis % counts.ndim
    pool_axes = tuple(a % counts.ndim for a in pool_axes)
    if trial_axis in pool_axes:
        raise ValueError("pool_axes must not include the trial axis")
    if np.any(counts.mean(trial_axis) <= 0):
        raise ValueError("the Fano factor is undefined where the mean count is 0 (no spikes in any trial)")
    # Pooled axes, renumbered for arrays that have lost the trial axis.
    pooled = tuple(a - (a > trial_axis) for a in pool_axes)
    counts = np.moveaxis(counts, trial_axis, 0)
    n = counts.shape[0]
    total, total_sq = counts.sum(0), (counts**2).sum(0)
    fano = counts.var(0, ddof=1) / counts.mean(0)
    if pooled:
        fano = fano.mean(pooled)
    # Leave-one-out sums give all n replicates without a loop over trials.
    loo_mean = (total - counts) / (n - 1)
    loo_var = ((total_sq - counts**2) - (n - 1) * loo_mean**2) / (n - 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        replicates = np.where(loo_mean > 0, loo_var / np.where(loo_mean > 0, loo_mean, 1.0), 1.0)
    if pooled:
        replicates = replicates.mean(tuple(a + 1 for a in pooled))
    se = jackknife_se(replicates)
    return (fano, se, replicates) if return_replicates else (fano, se)


def poisson_counts(rates, dt: float, window_steps: int, rng: np.random.Generator, time_axis: int = -1) -> np.ndarray:
    """Spike counts of inhomogeneous Poisson neurons driven by rate trajectories (Hz), in
    consecutive windows of ``window_steps`` steps of ``dt`` seconds along ``time_axis``.

    A rate circuit's responses become the doubly stochastic counts that experiments record
    (Churchland et al. 2011): count ~ Poisson(sum of rate * dt over the window).
    """
    dt, window_steps = float(check.positive("dt", dt)), check.count("window_steps", window_steps, 1)
    rates = np.moveaxis(np.asarray(rates, dtype=float), time_axis, -1)
    if np.any(~np.isfinite(rates)) or np.any(rates < 0):
        raise ValueError("rates must be finite and >= 0 (Hz)")
    n_windows = rates.shape[-1] // window_steps
    if n_windows < 1:
        raise ValueError(f"window_steps ({window_steps}) is longer than the {rates.shape[-1]} steps given")
    expected = rates[..., : n_windows * window_steps].reshape(*rates.shape[:-1], n_windows, window_steps).sum(-1) * dt
    return np.moveaxis(rng.poisson(expected), -1, time_axis)


def noise_covariance(responses, trial_axis: int = -2) -> np.ndarray:
    """Covariance across repeated trials of the same stimulus: responses (..., trial, neuron) ->
    (..., neuron, neuron); the variability that is noise, not signal."""
    from analysis.compare import moment_match

    return moment_match(np.moveaxis(_trials("responses", responses, trial_axis), trial_axis, -2))[1]


def _correlation(cov: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    if np.any(sd <= 0):
        raise ValueError("a neuron has zero variance: its correlations are undefined")
    return cov / (sd[..., :, None] * sd[..., None, :])


def noise_correlations(responses, trial_axis: int = -2) -> np.ndarray:
    """Pearson correlations across repeated trials (noise correlations), (..., neuron, neuron)."""
    return _correlation(noise_covariance(responses, trial_axis))


def signal_correlations(responses, stimulus_axis: int = 0, trial_axis: int = 1) -> np.ndarray:
    """Correlations across stimuli of the trial-averaged responses (signal correlations).

    responses : (stimulus, trial, neuron) by default; returns (neuron, neuron).
    """
    responses = _trials("responses", responses, trial_axis, 1)
    tuning = np.moveaxis(responses.mean(trial_axis), stimulus_axis if stimulus_axis < trial_axis else stimulus_axis - 1,
                         0)
    if tuning.ndim != 2 or tuning.shape[0] < 3:
        raise ValueError("signal correlations need (stimulus, trial, neuron) responses with at least 3 stimuli")
    return _correlation(np.cov(tuning, rowvar=False))


def trial_moments(responses, trial_axis: int = 0) -> dict[str, np.ndarray]:
    """Mean and variance across trials with their standard errors, at every remaining index
    (e.g. every time step: the variance time course around onset).

    The variance's standard error is sqrt((m4 - (n-3)/(n-1) s^4) / n), the standard large-
    sample form with the fourth central moment m4, so no Gaussian assumption is made.
    """
    responses = _trials("responses", responses, trial_axis, 4)
    n = responses.shape[trial_axis]
    mean = responses.mean(trial_axis)
    variance = responses.var(trial_axis, ddof=1)
    m4 = ((responses - np.expand_dims(mean, trial_axis)) ** 4).mean(trial_axis)
    variance_se = np.sqrt(np.maximum(m4 - (n - 3) / (n - 1) * variance**2, 0.0) / n)
    return {"mean": mean, "mean_se": np.sqrt(variance / n), "variance": variance, "variance_se": variance_se}


def power_spectrum(signal, dt: float, segment: float = 0.256, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectral density (one-sided, per Hz) along ``axis``: (frequencies Hz, psd).

    The mean of each segment is removed (detrend='constant'), so the spectrum is of the
    fluctuations. ``segment`` is the Welch segment length in seconds.
    """
    from scipy import signal as sp_signal

    dt, segment = float(check.positive("dt", dt)), float(check.positive("segment", segment))
    values = np.asarray(signal, dtype=float)
    n_segment = int(round(segment / dt))
    if n_segment < 8 or n_segment > values.shape[axis]:
        raise ValueError(f"segment must span 8 steps up to the signal's {values.shape[axis]} steps, got {n_segment}")
    return sp_signal.welch(values, fs=1.0 / dt, nperseg=n_segment, axis=axis, detrend="constant")


def band_power(frequencies, psd, band=(20.0, 80.0), axis: int = -1) -> np.ndarray:
    """Power in [low, high] Hz: the PSD integrated over the band (trapezoid rule), units of
    signal^2 (e.g. mV^2 for a potential's spectrum)."""
    frequencies = np.asarray(frequencies, dtype=float)
    low, high = (float(b) for b in band)
    if not 0 <= low < high:
        raise ValueError(f"band must be (low, high) Hz with 0 <= low < high, got {band}")
    inside = (frequencies >= low) & (frequencies <= high)
    if inside.sum() < 2:
        raise ValueError(f"the band {band} Hz holds fewer than 2 frequencies of the spectrum")
    return np.trapezoid(np.compress(inside, psd, axis=axis), frequencies[inside], axis=axis)


def spontaneous_vs_prior(spontaneous, evoked, prior_cov, prior_mean=None) -> dict[str, float]:
    """Berkes et al.'s (2011) comparison, by Gaussian moment matching (KL in nats).

    spontaneous : (sample, K) responses to a blank stimulus.
    evoked : (stimulus, sample, K) responses to stimuli drawn from the task; pooled over
        stimuli they estimate the aggregate posterior, which for a calibrated model is the prior.
    Returns KL(spontaneous || prior), KL(aggregate evoked || prior) and
    KL(aggregate evoked || spontaneous), plus the spontaneous covariance's relative error.
    """
    from analysis.compare import gaussian_kl, moment_match

    spontaneous = np.asarray(spontaneous, dtype=float)
    evoked = np.asarray(evoked, dtype=float)
    prior_cov = np.asarray(prior_cov, dtype=float)
    k = prior_cov.shape[0]
    if spontaneous.ndim != 2 or spontaneous.shape[1] != k or evoked.ndim != 3 or evoked.shape[2] != k:
        raise ValueError(f"spontaneous must be (sample, {k}) and evoked (stimulus, sample, {k}); got "
                         f"{spontaneous.shape} and {evoked.shape}")
    prior_mean = np.zeros(k) if prior_mean is None else np.asarray(prior_mean, dtype=float)
    spont_mean, spont_cov = moment_match(spontaneous)
    evoked_mean, evoked_cov = moment_match(evoked.reshape(-1, k))
    return {
        "kl_spontaneous_prior": float(gaussian_kl(spont_mean, spont_cov, prior_mean, prior_cov)),
        "kl_evoked_prior": float(gaussian_kl(evoked_mean, evoked_cov, prior_mean, prior_cov)),
        "kl_evoked_spontaneous": float(gaussian_kl(evoked_mean, evoked_cov, spont_mean, spont_cov)),
        "spontaneous_cov_relative_error": float(np.linalg.norm(spont_cov - prior_cov) / np.linalg.norm(prior_cov)),
    }
