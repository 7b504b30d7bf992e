"""Noise correlations against posterior correlations, and signal against noise correlations,
for a recurrent circuit trained on the linear-Gaussian task.

A sampling circuit's noise correlations are the posterior's correlations. In this task the
posterior covariance Sigma does not depend on x, and by the law of total covariance the
trial-averaged responses (posterior means) vary across stimuli with covariance C - Sigma
(prior minus posterior), so the exact signal correlations are those of C - Sigma: with an
independent prior, pairs whose noise is positively correlated have negative signal
correlation ("explaining away").
"""

from __future__ import annotations

import sys

import numpy as np

from analysis.compare import correlation_agreement, correlation_from_cov
from analysis.plots import _label, identity_scatter, new_panels
from analysis.variability import noise_correlations, signal_correlations
from simulations.experiments import run_linear_gaussian
from simulations.figures._common import figure_dataset, index, main_for
from simulations.results import scalar, variable

NAME = "noise-correlations"
DESCRIPTION = "noise correlations vs posterior correlations, and signal vs noise correlations"


def _pairs(matrix):
    rows, cols = np.triu_indices(matrix.shape[-1], 1)
    return matrix[..., rows, cols]


def build(seed: int = 1, quick: bool = False, progress: bool = False):
    options = dict(steps=300, samples=200, n_test=40) if quick else dict(steps=3000, samples=500, n_test=200)
    ds = run_linear_gaussian(seed, architecture="recurrent", n_latent=6, n_input=12, progress=progress, **options)
    responses = ds["r"].values  # (stimulus, sample, latent)
    per_stimulus = noise_correlations(responses, trial_axis=1)
    noise = per_stimulus.mean(0)
    # Each stimulus's correlations come from independent noise, so their spread gives an SE
    # that includes the autocorrelation of the circuit's successive samples.
    noise_se = per_stimulus.std(0, ddof=1) / np.sqrt(per_stimulus.shape[0])
    posterior_cov = ds["posterior_cov"].values
    posterior = correlation_from_cov(posterior_cov)
    signal = signal_correlations(responses)
    exact_signal = correlation_from_cov(ds["prior_cov"].values - posterior_cov)
    circuit = correlation_from_cov(ds["model_response_cov"].values).mean(0)  # the same for every stimulus
    agreement = correlation_agreement(_pairs(noise), _pairs(posterior))
    data_vars = {
        "noise_correlation": variable("pair", _pairs(noise), "1", "noise correlation, mean over test stimuli"),
        "noise_correlation_se": variable("pair", _pairs(noise_se), "1", "its standard error over test stimuli"),
        "circuit_correlation": variable("pair", _pairs(circuit), "1",
                                        "the circuit's exact noise correlation (from its stationary covariance)"),
        "posterior_correlation": variable("pair", _pairs(posterior), "1", "exact posterior correlation"),
        "signal_correlation": variable("pair", _pairs(signal), "1", "correlation across stimuli of trial means"),
        "exact_signal_correlation": variable("pair", _pairs(exact_signal), "1", "correlation of C - Sigma"),
        "noise_posterior_agreement": scalar(agreement["pearson"], "1",
                                            "Pearson correlation over pairs: noise vs posterior correlations"),
        "noise_posterior_slope": scalar(agreement["slope"], "1", "least-squares slope through the origin of noise "
                                        "on posterior correlations (1: the right scale)"),
        "noise_posterior_rms": scalar(agreement["rms"], "1", "RMS difference of noise and posterior correlations"),
        "signal_noise_relation": scalar(np.corrcoef(_pairs(signal), _pairs(noise))[0, 1], "1",
                                        "Pearson correlation over pairs: signal vs noise correlations"),
        "exact_signal_noise_relation": scalar(np.corrcoef(_pairs(exact_signal), _pairs(posterior))[0, 1], "1",
                                              "the same for the exact posterior"),
    }
    rows, cols = np.triu_indices(noise.shape[0], 1)
    coords = {"pair": index("pair", [f"{i}-{j}" for i, j in zip(rows, cols, strict=True)], "pair of latents")}
    return figure_dataset(NAME, data_vars, coords, seed, quick, task="linear-gaussian", architecture="recurrent",
                          n_latent=6, n_input=12, **options)


def plot(ds):
    figure, axes = new_panels(1, 2)
    identity_scatter(axes[0][0], ds["posterior_correlation"].values, ds["noise_correlation"].values,
                     label=f"r = {float(ds['noise_posterior_agreement']):.3f}, "
                           f"slope = {float(ds['noise_posterior_slope']):.2f}, "
                           f"RMS = {float(ds['noise_posterior_rms']):.3f}")
    _label(axes[0][0], "posterior correlation", "noise correlation")
    ax = axes[0][1]
    ax.plot(ds["noise_correlation"].values, ds["signal_correlation"].values, "o", ms=4, label="circuit")
    ax.plot(ds["posterior_correlation"].values, ds["exact_signal_correlation"].values, "kx", label="exact")
    ax.axhline(0, color="0.6", lw=1)
    ax.axvline(0, color="0.6", lw=1)
    _label(ax, "noise correlation", "signal correlation")
    return figure


if __name__ == "__main__":
    sys.exit(main_for(sys.modules[__name__]))
