"""The E/I circuit at published scale (50 + 50 cells on a ring) and its two controls: does
sampling make the dynamics cortex-like? (Echeveste, Aitchison, Hennequin & Lengyel 2020.)

Three networks, each trained by ``simulations.ring_ssn.run_ring_ssn`` on the same ring GSM:
the sampling network (posterior mean, variance and covariance), the mean-only control and
the no-noise control (the full objective without input noise). Per network and contrast,
on held-out stimuli shown after a blank (``simulations.ssn_experiments.onset_responses``):

- onset: the E population's mean potential against time; ``overshoot`` = its largest value in
  the first 100 ms minus its mean in the steady window (0.3-1.0 s after onset), mV;
- LFP: the E population's mean potential in the steady window (Echeveste et al.'s LFP proxy),
  Welch PSD per trial, averaged, normalised to unit total power (1/Hz). ``peak_frequency``:
  the largest local maximum of the normalised PSD inside 20-80 Hz, refined by a parabola
  through the log-PSD at it and its neighbours (NaN if the PSD has no local maximum there);
  ``gamma_fraction``: the share of the power inside 20-80 Hz;
- variability: the across-trial variance of the E potentials in the steady window, mean over
  cells and stimuli (mV^2); quenching is its fall from the blank (c = 0);
- fit to the posterior (from the run files, held-out stimuli): mean error in posterior sds
  and variance ratio per contrast (the issue's bars: 0.2 sd; 25 %).
"""

from __future__ import annotations

import sys

import jax
import numpy as np

from analysis.plots import _label, new_panels
from analysis.variability import band_power, power_spectrum
from simulations.figures._common import figure_dataset, index, main_for
from simulations.results import config_of, variable
from simulations.ring_ssn import ring_task_data, run_ring_ssn, trained_ring_ssn
from simulations.ssn_experiments import onset_responses

NAME = "ring-ssn"
DESCRIPTION = "E/I ring circuit (50 + 50) trained to sample a ring GSM, against mean-only and no-noise controls"
BLANK, DURATION = 0.2, 1.0  # seconds
TRANSIENT, STEADY = (0.0, 0.1), (0.3, 1.0)  # seconds from onset
GAMMA = (20.0, 80.0)  # Hz
NETWORKS = {"sampling": dict(objective="moments"), "mean-only": dict(objective="mean"),
            "no-noise": dict(objective="moments", input_noise=False)}
LABELS = {"sampling": "sampling (mean, variance, covariance)", "mean-only": "control: mean only",
          "no-noise": "control: no input noise"}


def train_networks(seed: int, quick: bool, progress: bool = False) -> dict:
    """The three ``run ring-ssn`` Datasets (quick: 12 + 12 cells, 150 steps, moments read over 0.1 s
    after 0.05 s)."""
    size = dict(ring_size=12, steps=150, n_images=8, test_stimuli=4, test_trials=20, burn_in=0.05,
                window=0.1) if quick else {}
    return {name: run_ring_ssn(seed, progress=progress, **options, **size) for name, options in NETWORKS.items()}


def spectral_peak(frequencies, psd, band=GAMMA) -> float:
    """Frequency (Hz) of the largest local maximum of ``psd`` strictly inside ``band``, refined by
    a parabola through log psd at the maximum and its two neighbours; NaN if there is none."""
    frequencies, log_psd = np.asarray(frequencies, float), np.log(np.asarray(psd, float))
    interior = np.arange(1, len(frequencies) - 1)
    is_peak = (log_psd[interior] > log_psd[interior - 1]) & (log_psd[interior] > log_psd[interior + 1])
    inside = (frequencies[interior] >= band[0]) & (frequencies[interior] <= band[1])
    candidates = interior[is_peak & inside]
    if candidates.size == 0:
        return float("nan")
    i = candidates[np.argmax(log_psd[candidates])]
    left, centre, right = log_psd[i - 1: i + 2]
    offset = 0.5 * (left - right) / (left - 2.0 * centre + right)  # vertex of the parabola, in bins
    return float(frequencies[i] + offset * (frequencies[1] - frequencies[0]))


def measure(results, seed: int, n_stimuli: int, n_trials: int) -> dict:
    """The figure's measurements for one trained ``run ring-ssn`` Dataset, per contrast, on its
    first ``n_stimuli`` held-out latents (module docstring)."""
    ssn, params, _, config = trained_ring_ssn(results)
    levels = np.asarray(config["contrast_levels"])
    _, _, x_test = ring_task_data(config["seed"], config["ring_size"], config["patch_size"], config["noise_std"],
                                  levels, 1, config["test_stimuli"])
    n_stimuli = min(n_stimuli, config["test_stimuli"])
    stimuli = x_test.reshape(len(levels), config["test_stimuli"], -1)[:, :n_stimuli].reshape(-1, x_test.shape[1])
    time, u = onset_responses(ssn, params, stimuli, jax.random.PRNGKey(seed + 13), n_trials, BLANK, DURATION)
    step = time[1] - time[0]
    excitatory = u[..., : ssn.n_excitatory].reshape(len(levels), n_stimuli, n_trials, len(time), -1)
    lfp = excitatory.mean(-1)  # (C, S, trials, T)
    mean_course = lfp.mean((1, 2))
    transient = (time > TRANSIENT[0]) & (time <= TRANSIENT[1])
    steady = (time > STEADY[0]) & (time <= STEADY[1])
    frequencies, psd = power_spectrum(lfp[..., steady], step)
    psd = psd.mean((1, 2))
    total = np.trapezoid(psd, frequencies, axis=-1)
    # A network without noise settles to a fixed point: its steady "spectrum" is rounding error.
    fluctuating = total > 1e-8
    safe_total = np.where(fluctuating, total, 1.0)
    normalised = np.where(fluctuating[:, None], psd / safe_total[:, None], np.nan)
    gamma_fraction = np.where(fluctuating, band_power(frequencies, psd, GAMMA) / safe_total, np.nan)
    peak = np.array([spectral_peak(frequencies, row) if ok else np.nan
                     for row, ok in zip(psd, fluctuating, strict=True)])
    variance = excitatory[:, :, :, steady].var(2, ddof=1).mean((1, 2, 3))
    return dict(time=time, mean_course=mean_course, overshoot=mean_course[:, transient].max(1)
                - mean_course[:, steady].mean(1), frequencies=frequencies, psd=normalised, lfp_power=total,
                peak=peak, gamma_fraction=gamma_fraction, variance=variance,
                mean_error=results["mean_error_by_contrast"].values,
                variance_ratio=results["variance_ratio_by_contrast"].values,
                covariance_error=results["covariance_error_by_contrast"].values, levels=levels, config=config)


def build(seed: int = 1, quick: bool = False, progress: bool = False, networks=None):
    """``networks``: name -> trained ``run ring-ssn`` Dataset, for the names of NETWORKS, to reuse
    instead of training here."""
    networks = networks or train_networks(seed, quick, progress)
    n_stimuli, n_trials = (2, 10) if quick else (4, 40)
    results = [measure(networks[name], seed, n_stimuli, n_trials) for name in NETWORKS]
    keys = ("mean_course", "overshoot", "psd", "lfp_power", "peak", "gamma_fraction", "variance", "mean_error",
            "variance_ratio", "covariance_error")
    stack = {key: np.stack([r[key] for r in results]) for key in keys}
    dims = ("network", "contrast")
    data_vars = {
        "mean_potential": variable((*dims, "time"), stack["mean_course"], "mV", "mean excitatory potential"),
        "overshoot": variable(dims, stack["overshoot"], "mV", f"peak mean E potential in {TRANSIENT} s minus its "
                                                              f"mean in {STEADY} s"),
        "normalised_psd": variable((*dims, "frequency"), stack["psd"], "1/Hz",
                                   "Welch PSD of the E population's mean potential in the steady window, "
                                   "normalised to unit total power (NaN: no fluctuations)"),
        "lfp_power": variable(dims, stack["lfp_power"], "mV^2", "total power of the LFP fluctuations"),
        "peak_frequency": variable(dims, stack["peak"], "Hz", f"largest local PSD maximum inside {GAMMA} Hz "
                                                              "(NaN: none)"),
        "gamma_fraction": variable(dims, stack["gamma_fraction"], "1", f"share of LFP power inside {GAMMA} Hz"),
        "potential_variance": variable(dims, stack["variance"], "mV^2", "across-trial variance of the E "
                                                                        "potentials, steady window"),
        "mean_error": variable(dims, stack["mean_error"], "posterior sd", "RMS response-mean error, held-out"),
        "variance_ratio": variable(dims, stack["variance_ratio"], "1", "response / posterior variance, held-out"),
        "covariance_error": variable(dims, stack["covariance_error"], "1",
                                     "relative off-diagonal covariance error, held-out"),
        "training_time": variable("network", [float(networks[name]["training_time"]) for name in NETWORKS], "s",
                                  "wall time of training"),
    }
    coords = {"network": index("network", list(NETWORKS), "sampling network or control"),
              "contrast": index("contrast", results[0]["levels"], "stimulus contrast"),
              "time": index("time", results[0]["time"], "time from onset", "s"),
              "frequency": index("frequency", results[0]["frequencies"], "frequency", "Hz")}
    return figure_dataset(NAME, data_vars, coords, seed, quick, runs={name: r["config"] for name, r in
                                                                      zip(NETWORKS, results, strict=True)},
                          n_stimuli=n_stimuli, n_trials=n_trials, blank=BLANK, duration=DURATION,
                          transient=list(TRANSIENT), steady=list(STEADY), gamma=list(GAMMA))


def plot(ds):
    figure, axes = new_panels(2, 3)
    contrasts = ds["contrast"].values
    colours = [f"C{i}" for i in range(len(contrasts))]
    sampling = ds.sel(network="sampling")
    for c, contrast in enumerate(contrasts):
        axes[0][0].plot(1000 * ds["time"].values, sampling["mean_potential"].values[c], color=colours[c],
                        label=f"c = {contrast:g}")
        axes[0][1].semilogy(ds["frequency"].values, sampling["normalised_psd"].values[c], color=colours[c],
                            label=f"c = {contrast:g}")
    axes[0][0].set_title(LABELS["sampling"], fontsize="small")
    _label(axes[0][0], "time from onset (ms)", "mean E potential (mV)")
    axes[0][1].axvspan(*config_of(ds)["gamma"], color="0.9")
    axes[0][1].set_xlim(0, 150)
    _label(axes[0][1], "frequency (Hz)", "normalised LFP PSD (1/Hz)")
    markers = {"sampling": "o-", "mean-only": "s--", "no-noise": "^:"}
    panels = ((axes[0][2], "peak_frequency", "gamma peak frequency (Hz)", None),
              (axes[1][0], "potential_variance", "E potential variance (mV²)", None),
              (axes[1][1], "mean_error", "mean error (posterior sd)", (0.2,)),
              (axes[1][2], "variance_ratio", "variance / posterior variance", (0.75, 1.25)))
    for ax, name, ylabel, bars in panels:
        for network in ds["network"].values:
            ax.plot(contrasts, ds[name].sel(network=network).values, markers[str(network)],
                    label=LABELS[str(network)])
        for bar in bars or ():
            ax.axhline(bar, color="0.5", lw=0.8)
        _label(ax, "contrast", ylabel)
    axes[1][2].set_yscale("log")
    return figure


if __name__ == "__main__":
    sys.exit(main_for(sys.modules[__name__]))
