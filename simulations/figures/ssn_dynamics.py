"""Dynamics of a sampling E/I circuit: onset transients, gamma-band power and variability
against contrast, for an SSN trained to match the GSM posterior's mean, variance and
covariance and for a control trained on the posterior mean only (Echeveste, Aitchison,
Hennequin & Lengyel 2020: in their optimised network the onset transient and the gamma
power grow with contrast, and the control lacks them).

Measured per network and contrast (averaged over stimuli and trials):
- the excitatory population's mean potential around onset, and its overshoot: the largest
  mean potential in the first 100 ms after onset minus its steady level (0.3-0.6 s), mV;
- the Welch power spectrum of the E population's mean potential in the steady window, and
  its power in the gamma band (20-80 Hz), mV^2;
- the variance of the samples z in the steady window against the exact posterior variance.
"""

from __future__ import annotations

import sys

import jax
import numpy as np

from analysis.plots import _label, new_panels
from analysis.variability import band_power, power_spectrum
from simulations.figures._common import figure_dataset, index, main_for
from simulations.results import config_of, variable
from simulations.ssn_experiments import onset_responses, run_ssn, stimuli_at_contrasts, trained_ssn

NAME = "ssn-dynamics"
DESCRIPTION = "onset transients, gamma power and variability vs contrast in a trained SSN and a mean-only control"
BLANK, DURATION = 0.2, 0.6  # seconds
TRANSIENT, STEADY = (0.0, 0.1), (0.3, 0.6)  # seconds from onset
GAMMA = (20.0, 80.0)  # Hz
NETWORKS = ("moments", "mean")


def measure(results, seed: int, n_stimuli: int, n_trials: int, contrasts) -> dict:
    """The figure's measurements for one trained ``run ssn`` Dataset: the mean E potential
    (mV) against time, its ``overshoot`` (mV), the steady-window PSD (mV^2/Hz) and ``gamma``
    power (mV^2), and the samples' ``variance``, per contrast; stimuli drawn from ``seed``."""
    ssn, params, model, config = trained_ssn(results)
    rng = np.random.default_rng([seed, 4])
    latents = rng.standard_normal((n_stimuli, ssn.n_excitatory))
    stimuli = stimuli_at_contrasts(model, latents, contrasts, rng)  # contrast-major
    time, u = onset_responses(ssn, params, stimuli, jax.random.PRNGKey(seed + 11), n_trials, BLANK, DURATION)
    step = time[1] - time[0]
    shape = (len(contrasts), n_stimuli)
    population = u[..., : ssn.n_excitatory].mean(-1).reshape(*shape, n_trials, -1)  # (C, S, trials, T)
    mean_course = population.mean((1, 2))
    transient = (time > TRANSIENT[0]) & (time <= TRANSIENT[1])
    steady = (time > STEADY[0]) & (time <= STEADY[1])
    overshoot = mean_course[:, transient].max(1) - mean_course[:, steady].mean(1)
    frequencies, psd = power_spectrum(population[..., steady], step, segment=0.2)
    psd = psd.mean((1, 2))
    samples = ssn.readout(u[:, :, steady]).reshape(*shape, -1, ssn.n_excitatory)
    variance = samples.var(2, ddof=1).mean((1, 2))
    posterior_variance = np.diagonal(model.posterior(stimuli).cov, axis1=1, axis2=2).reshape(*shape, -1).mean((1, 2))
    return dict(time=time, mean_course=mean_course, overshoot=overshoot, frequencies=frequencies, psd=psd,
                gamma=band_power(frequencies, psd, GAMMA), variance=variance,
                posterior_variance=posterior_variance, config=config)


def build(seed: int = 1, quick: bool = False, progress: bool = False, ssn_results=None, control_results=None):
    """``ssn_results`` / ``control_results``: trained ``run ssn`` Datasets (objective "moments" /
    "mean") to reuse instead of training here."""
    steps = 150 if quick else 1200
    trained = {"moments": ssn_results, "mean": control_results}
    for objective in NETWORKS:
        if trained[objective] is None:
            trained[objective] = run_ssn(seed, objective, steps=steps, progress=progress)
    contrasts = np.array(config_of(trained["moments"])["contrast_levels"])
    n_stimuli, n_trials = (3, 30) if quick else (4, 100)
    results = [measure(trained[objective], seed, n_stimuli, n_trials, contrasts) for objective in NETWORKS]
    stack = {key: np.stack([r[key] for r in results]) for key in ("mean_course", "overshoot", "psd", "gamma",
                                                                 "variance")}
    dims = ("network", "contrast")
    data_vars = {
        "mean_potential": variable((*dims, "time"), stack["mean_course"], "mV", "mean excitatory potential"),
        "overshoot": variable(dims, stack["overshoot"], "mV", f"peak mean E potential in {TRANSIENT} s minus its "
                                                              f"mean in {STEADY} s"),
        "psd": variable((*dims, "frequency"), stack["psd"], "mV^2/Hz",
                        "Welch PSD of the E population's mean potential in the steady window"),
        "gamma_power": variable(dims, stack["gamma"], "mV^2", f"power in {GAMMA} Hz"),
        "variance": variable(dims, stack["variance"], "1", "variance of the samples z in the steady window"),
        "posterior_variance": variable("contrast", results[0]["posterior_variance"], "1",
                                       "exact posterior variance, mean over stimuli and latents"),
    }
    coords = {"network": index("network", list(NETWORKS), "trained on the posterior's moments, or its mean only"),
              "contrast": index("contrast", contrasts, "stimulus contrast"),
              "time": index("time", results[0]["time"], "time from onset", "s"),
              "frequency": index("frequency", results[0]["frequencies"], "frequency", "Hz")}
    return figure_dataset(NAME, data_vars, coords, seed, quick, ssn=results[0]["config"],
                          control=results[1]["config"], n_stimuli=n_stimuli, n_trials=n_trials, blank=BLANK,
                          duration=DURATION, transient=list(TRANSIENT), steady=list(STEADY), gamma=list(GAMMA))


def plot(ds):
    figure, axes = new_panels(2, 3)
    contrasts = ds["contrast"].values
    time_ms = 1000 * ds["time"].values
    colours = [f"C{i}" for i in range(len(contrasts))]
    labels = {"moments": "sampling (mean, variance, covariance)", "mean": "control (mean only)"}
    for ax, network in zip(axes[0][:2], ds["network"].values, strict=True):
        for c, contrast in enumerate(contrasts):
            ax.plot(time_ms, ds["mean_potential"].sel(network=network).values[c], color=colours[c],
                    label=f"c = {contrast:g}")
        ax.set_title(labels[str(network)], fontsize="small")
        _label(ax, "time from onset (ms)", "mean E potential (mV)")
    frequency = ds["frequency"].values
    for c, contrast in enumerate(contrasts):
        axes[1][0].semilogy(frequency, ds["psd"].sel(network="moments").values[c], color=colours[c],
                            label=f"c = {contrast:g}")
    axes[1][0].axvspan(*config_of(ds)["gamma"], color="0.9")
    axes[1][0].set_xlim(0, 150)
    _label(axes[1][0], "frequency (Hz)", "PSD, sampling network (mV²/Hz)")
    for network, marker in zip(ds["network"].values, ("o-", "s--"), strict=True):
        label = labels[str(network)]
        axes[0][2].plot(contrasts, ds["overshoot"].sel(network=network).values, marker, label=label)
        axes[1][1].plot(contrasts, ds["gamma_power"].sel(network=network).values, marker, label=label)
        axes[1][2].plot(contrasts, ds["variance"].sel(network=network).values, marker, label=label)
    axes[1][2].plot(contrasts, ds["posterior_variance"].values, "k:", label="exact posterior")
    axes[1][2].set_yscale("log")
    _label(axes[0][2], "contrast", "onset overshoot (mV)")
    _label(axes[1][1], "contrast", "gamma power 20-80 Hz (mV²)")
    _label(axes[1][2], "contrast", "sample variance")
    return figure


if __name__ == "__main__":
    sys.exit(main_for(sys.modules[__name__]))
