"""Variability quenching at stimulus onset in a recurrent E/I circuit trained to sample.

The stochastic SSN trained on the GSM posterior (``simulations.ssn_experiments``) sees a
blank, then a stimulus. Before onset its samples should follow the blank's posterior (close
to the prior, wide); after onset the stimulus's posterior (narrow), so a sampling circuit
quenches its variability at onset, as Churchland et al. (2010) found across cortex.
Measured: the variance of the excitatory cells' samples at every millisecond, and the Fano
factor of spike counts in 100 ms windows drawn as inhomogeneous Poisson counts from the
cells' rates k[u]_+^2 (a rate circuit's counts are doubly stochastic; Churchland et al. 2011).
Fano factors are averaged over the (stimulus, cell) pairs that spike in every window (the others
are counted in the file); standard errors are jackknife over trials.

A linear recurrent circuit would not do: its response covariance does not depend on the
input at all (``circuits.recurrent``), so nothing in it can quench.
"""

from __future__ import annotations

import sys

import jax
import numpy as np

from analysis.plots import _label, line_with_band, new_panels
from analysis.variability import fano_factor, jackknife_se, poisson_counts, trial_moments
from simulations.figures._common import figure_dataset, index, main_for
from simulations.results import config_of, scalar, variable
from simulations.ssn_experiments import onset_responses, run_ssn, stimuli_at_contrasts, trained_ssn

NAME = "onset"
DESCRIPTION = "Fano factor and variance time courses around stimulus onset in a trained E/I circuit"
BLANK, DURATION = 0.5, 0.5  # seconds before and after onset
WINDOW = 0.1  # Fano counting window, seconds
BEFORE, AFTER = (-0.3, 0.0), (0.2, 0.5)  # seconds: spontaneous, and evoked after the onset transient
ONSET_CONTRAST = 2.0


def build(seed: int = 1, quick: bool = False, progress: bool = False, ssn_results=None):
    """``ssn_results``: an already trained ``run ssn`` Dataset (objective "moments") to reuse."""
    if ssn_results is None:
        ssn_results = run_ssn(seed, "moments", steps=150 if quick else 1200, progress=progress)
    ssn, params, model, ssn_config = trained_ssn(ssn_results)
    n_trials, n_stimuli = (400, 3) if quick else (1000, 4)
    rng = np.random.default_rng([seed, 2])
    stimuli = stimuli_at_contrasts(model, rng.standard_normal((n_stimuli, ssn.n_excitatory)), ONSET_CONTRAST, rng)
    record_every = 2
    time, u = onset_responses(ssn, params, stimuli, jax.random.PRNGKey(seed + 7), n_trials, BLANK, DURATION,
                              record_every)
    step = record_every * ssn.dt
    # Samples: variance across trials at each time, averaged over stimuli and cells.
    moments = trial_moments(ssn.readout(u), trial_axis=1)  # (S, T, K)
    variance = moments["variance"].mean((0, 2))
    variance_se = np.sqrt((moments["variance_se"] ** 2).mean((0, 2)) / (n_stimuli * ssn.n_excitatory))
    # Spike counts from the E cells' rates, in consecutive windows.
    window_steps = int(round(WINDOW / step))
    counts = poisson_counts(ssn.rates(u[..., : ssn.n_excitatory]), step, window_steps,
                            np.random.default_rng([seed, 3]), time_axis=2)  # (S, trials, W, K)
    window_start = time[0] - step + np.arange(counts.shape[2]) * WINDOW
    # A Fano factor needs spikes: pool the (stimulus, cell) pairs that spike in every window,
    # as Churchland et al. (2010) kept only responsive neurons; the rest are counted, not hidden.
    pairs = counts.transpose(1, 0, 3, 2).reshape(n_trials, -1, counts.shape[2])  # (trials, pair, window)
    spiking = np.all(pairs.mean(0) > 0, axis=1)
    if not np.any(spiking):
        raise ValueError("no excitatory cell spikes in every window; the network is silent")
    fano, fano_se, replicates = fano_factor(pairs[:, spiking], trial_axis=0, pool_axes=(1,),
                                            return_replicates=True)
    before = (window_start >= BEFORE[0] - 1e-9) & (window_start + WINDOW <= BEFORE[1] + 1e-9)
    after = (window_start >= AFTER[0] - 1e-9) & (window_start + WINDOW <= AFTER[1] + 1e-9)
    change = replicates[:, before].mean(1) - replicates[:, after].mean(1)
    in_before = (time > BEFORE[0]) & (time <= BEFORE[1])
    in_after = (time > AFTER[0]) & (time <= AFTER[1])
    posterior_blank = model.posterior(np.zeros((1, model.n_obs)))
    posterior_stimuli = model.posterior(stimuli)
    data_vars = {
        "variance": variable("time", variance, "1", "variance across trials of the samples z, mean over cells "
                                                   "and stimuli"),
        "variance_se": variable("time", variance_se, "1", "its standard error"),
        "mean_rate": variable("time", ssn.rates(u[..., : ssn.n_excitatory]).mean((0, 1, 3)), "Hz",
                              "mean excitatory rate"),
        "fano": variable("window", fano, "1", "Fano factor of spike counts, mean over the pooled (stimulus, cell) "
                                              "pairs"),
        "fano_se": variable("window", fano_se, "1", "its jackknife standard error over trials"),
        "fano_pairs": scalar(int(spiking.sum()), "1", "(stimulus, cell) pairs pooled: those that spike in every "
                                                     "window"),
        "fano_pairs_silent": scalar(int((~spiking).sum()), "1", "(stimulus, cell) pairs left out: silent in some "
                                                               "window"),
        "fano_before": scalar(fano[before].mean(), "1", f"mean Fano factor in windows within {BEFORE} s"),
        "fano_after": scalar(fano[after].mean(), "1", f"mean Fano factor in windows within {AFTER} s"),
        "fano_drop": scalar(fano[before].mean() - fano[after].mean(), "1", "fano_before - fano_after"),
        "fano_drop_se": scalar(jackknife_se(change), "1", "jackknife standard error of fano_drop"),
        "variance_before": scalar(variance[in_before].mean(), "1", f"mean sample variance within {BEFORE} s"),
        "variance_after": scalar(variance[in_after].mean(), "1", f"mean sample variance within {AFTER} s"),
        "posterior_variance_blank": scalar(np.diagonal(posterior_blank.cov[0]).mean(), "1",
                                           "exact posterior variance for x = 0, mean over latents"),
        "posterior_variance_stimulus": scalar(np.diagonal(posterior_stimuli.cov, axis1=1, axis2=2).mean(), "1",
                                              "exact posterior variance for the stimuli, mean"),
    }
    coords = {"time": index("time", time, "time from stimulus onset", "s"),
              "window": index("window", window_start, "start of the counting window, from onset", "s")}
    return figure_dataset(NAME, data_vars, coords, seed, quick, ssn=ssn_config, n_trials=n_trials,
                          n_stimuli=n_stimuli, contrast=ONSET_CONTRAST, blank=BLANK, duration=DURATION,
                          window=WINDOW, before=list(BEFORE), after=list(AFTER))


def plot(ds):
    figure, axes = new_panels(1, 3)
    ax_rate, ax_var, ax_fano = axes[0]
    time_ms = 1000 * ds["time"].values
    ax_rate.plot(time_ms, ds["mean_rate"].values, color="C3")
    _label(ax_rate, "time from onset (ms)", "mean E rate (Hz)")
    line_with_band(ax_var, time_ms, ds["variance"].values, ds["variance_se"].values, label="circuit", color="C0")
    ax_var.hlines(float(ds["posterior_variance_blank"]), time_ms[0], 0, color="k", ls="--",
                  label="exact posterior given a blank input (x = 0)")
    ax_var.hlines(float(ds["posterior_variance_stimulus"]), 0, time_ms[-1], color="k", ls=":",
                  label="exact posterior given the stimuli")
    ax_var.set_yscale("log")
    # The first steps start from rest (zero variance); the scale is set by the evoked levels.
    ax_var.set_ylim(bottom=0.5 * min(float(ds["posterior_variance_stimulus"]), float(ds["variance_after"])))
    _label(ax_var, "time from onset (ms)", "sample variance")
    centre_ms = 1000 * (ds["window"].values + config_of(ds)["window"] / 2)
    ax_fano.errorbar(centre_ms, ds["fano"].values, yerr=ds["fano_se"].values, fmt="o-", ms=4, capsize=2)
    _label(ax_fano, "time from onset (ms)", "Fano factor (100 ms counts)")
    for ax in axes[0]:
        ax.axvline(0, color="0.5", lw=1)
    return figure


if __name__ == "__main__":
    sys.exit(main_for(sys.modules[__name__]))
