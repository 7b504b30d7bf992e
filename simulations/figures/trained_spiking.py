"""Spiking circuits trained under local costs: escape-noise neurons against LIF neurons with
stochastic release, each read out against the exact posterior (``run trained-spiking``).

Four single-layer circuits, trained by ``simulations.trained_spiking.run_trained_spiking`` at
its defaults: both neuron models on the linear-Gaussian task and on the GSM. Shown:

- spike rasters of each model on one held-out stimulus of the linear-Gaussian task (trials
  stacked, recorded by re-simulating the trained circuit from the figure's seed);
- the readout's samples of two latents on that stimulus, with the exact posterior's 2-sd
  ellipse and the moment-matched readout's;
- per model, the KL of the readout to the exact posterior (median over test stimuli), its
  covariance part, the bar (the trained rate single-layer circuit's KL + 0.1 x the
  mean-field floor) and the floor;
- GSM: the readout's and the exact posterior's variance against contrast;
- the readout's noise correlations against the posterior's (linear-Gaussian task);
- Fano factors and rates (the metabolic cost, spikes/s per neuron).
"""

from __future__ import annotations

import sys

import jax
import numpy as np

from analysis.plots import _label, new_panels
from simulations.figures._common import figure_dataset, index, main_for
from simulations.results import config_of, variable
from simulations.trained_spiking import GSM_TEST_CONTRASTS, run_trained_spiking, trained_spiking_circuit

NAME = "trained-spiking"
DESCRIPTION = "spiking circuits trained under local costs (escape noise, stochastic release) against the posterior"
MODELS = ("escape", "lif")
LABELS = {"escape": "escape-noise neurons", "lif": "LIF, stochastic release"}
RASTER_TRIALS = 5
#: The quick size: 30 training steps of 8 inputs x 4 trials, 2 test stimuli x 30 trials, and
#: no rate circuit to compare with (its bar is NaN).
QUICK = dict(steps=30, batch_size=8, trials=4, n_train=500, n_test=2, test_trials=30)


def train_runs(seed: int, quick: bool, progress: bool = False) -> dict:
    """``{(model, task): run trained-spiking Dataset}`` for both models and tasks (single-layer)."""
    size = QUICK if quick else {}
    return {(model, task): run_trained_spiking(seed, task=task, neuron=model, progress=progress,
                                               compare_rate=task == "linear-gaussian" and not quick, **size)
            for model in MODELS for task in ("linear-gaussian", "gsm")}


def raster(run, seed: int, stimulus: int = 0, n_trials: int = RASTER_TRIALS) -> np.ndarray:
    """Spike trains (trial, step, neuron), 0/1, of ``n_trials`` re-simulated trials on one test stimulus."""
    circuit, params, _ = trained_spiking_circuit(run)
    x = run["x"].values[stimulus:stimulus + 1]
    simulated = circuit.simulate(params, x, jax.random.PRNGKey(seed), n_trials, record=True)
    return np.asarray(simulated["spikes"][0], dtype=float)


def build(seed: int = 1, quick: bool = False, progress: bool = False, runs=None):
    """``runs``: ``{(model, task): Dataset}`` as ``train_runs`` returns, to reuse instead of training here."""
    runs = runs or train_runs(seed, quick, progress)
    lg = {model: runs[(model, "linear-gaussian")] for model in MODELS}
    gsm = {model: runs[(model, "gsm")] for model in MODELS}
    rasters = np.stack([raster(lg[model], seed) for model in MODELS])

    def stack(runs_by_model, name):
        return np.stack([np.asarray(runs_by_model[model][name].values, dtype=float) for model in MODELS])

    def scalars(runs_by_model, name):  # NaN where a run did not measure it
        return [float(runs_by_model[model][name]) if name in runs_by_model[model] else np.nan for model in MODELS]

    first = lg[MODELS[0]]
    dims = ("model",)
    data_vars = {
        "spikes": variable(("model", "raster_trial", "time_step", "neuron"), rasters, "1",
                           "spikes (0/1) of re-simulated trials on test stimulus 0, burn-in and window"),
        "samples": variable(("model", "trial", "latent"), stack(lg, "samples")[:, 0], "1",
                            "readout samples on test stimulus 0 (linear-Gaussian task)"),
        "posterior_mean": variable("latent", first["posterior_mean"].values[0], "1",
                                   "exact posterior mean on test stimulus 0"),
        "posterior_cov": variable(("latent", "latent_"), first["posterior_cov"].values[0], "1",
                                  "exact posterior covariance on test stimulus 0"),
        "kl_true_posterior": variable(dims, scalars(lg, "kl_true_posterior"), "nats",
                                      "median KL(readout || exact posterior), linear-Gaussian task"),
        "kl_covariance_term": variable(dims, scalars(lg, "kl_covariance_term"), "nats",
                                       "the same with the readout's means set to the posterior's"),
        "kl_bar": variable(dims, scalars(lg, "kl_bar"), "nats", "the rate single-layer circuit's KL + 0.1 x floor"),
        "mean_field_floor": variable(dims, scalars(lg, "mean_field_floor"), "nats",
                                     "smallest KL reachable with independent readout noise"),
        "variance_ratio": variable(dims, scalars(lg, "variance_ratio"), "1",
                                   "readout over posterior variance (linear-Gaussian task)"),
        "noise_correlation": variable(("model", "latent", "latent_"), stack(lg, "noise_correlation"), "1",
                                      "readout noise correlations, mean over test stimuli"),
        "posterior_correlation": variable(("latent", "latent_"), first["posterior_correlation"].values, "1",
                                          "exact posterior correlations, mean over test stimuli"),
        "fano_factor": variable(dims, scalars(lg, "fano_factor"), "1", "Fano factor of the window counts"),
        "mean_rate": variable(dims, scalars(lg, "mean_rate"), "spikes/s", "mean firing rate"),
        "readout_variance_by_contrast": variable(("model", "contrast"), stack(gsm, "readout_variance_by_contrast"),
                                                 "1", "GSM: mean readout variance at each test contrast"),
        "posterior_variance_by_contrast": variable("contrast", gsm[MODELS[0]]["posterior_variance_by_contrast"].values,
                                                   "1", "GSM: mean exact posterior variance at each test contrast"),
        "readout_variance_slope": variable(dims, scalars(gsm, "readout_variance_slope"), "1",
                                           "GSM: slope of readout variance vs log contrast"),
        "readout_variance_slope_se": variable(dims, scalars(gsm, "readout_variance_slope_se"), "1",
                                              "its bootstrap SE"),
        "posterior_variance_slope": variable(dims, scalars(gsm, "posterior_variance_slope"), "1",
                                             "GSM: slope of the exact posterior variance vs log contrast"),
    }
    dt = float(config_of(first)["dt"])
    coords = {"model": index("model", list(MODELS), "neuron model (noise site: neurons, synapses)"),
              "raster_trial": index("raster_trial", np.arange(RASTER_TRIALS), "re-simulated trial"),
              "time_step": index("time_step", dt * np.arange(rasters.shape[2]), "time from onset", "s"),
              "neuron": index("neuron", np.arange(rasters.shape[3]), "spiking neuron"),
              "trial": index("trial", np.arange(data_vars["samples"].shape[1]), "test trial"),
              "latent": index("latent", np.arange(first.sizes["latent"]), "latent"),
              "latent_": index("latent_", np.arange(first.sizes["latent"]), "second latent axis"),
              "contrast": index("contrast", np.asarray(GSM_TEST_CONTRASTS), "GSM test contrast")}
    return figure_dataset(NAME, data_vars, coords, seed, quick,
                          runs={f"{model}/{task}": config_of(run) for (model, task), run in runs.items()},
                          burn_in=float(config_of(first)["burn_in"]))


def _ellipse(mean, cov, n_sd=2.0, points=100):
    angles = np.linspace(0, 2 * np.pi, points)
    values, vectors = np.linalg.eigh(cov)
    return mean[:, None] + n_sd * vectors @ (np.sqrt(values)[:, None] * np.stack([np.cos(angles), np.sin(angles)]))


def plot(ds):
    figure, axes = new_panels(2, 3)
    models = [str(m) for m in ds["model"].values]
    time_ms = 1000 * ds["time_step"].values
    n_neurons = ds.sizes["neuron"]
    for ax, model in zip(axes[0][:2], models, strict=True):
        spikes = ds["spikes"].sel(model=model).values
        for trial in range(spikes.shape[0]):
            steps, neurons = np.nonzero(spikes[trial])
            ax.scatter(time_ms[steps], trial * (n_neurons + 2) + neurons, s=2, marker="|", color=f"C{trial}")
        ax.axvline(1000 * config_of(ds)["burn_in"], color="0.5", lw=0.8)
        ax.set_title(f"{LABELS[model]}\n{float(ds['mean_rate'].sel(model=model)):.0f} spikes/s, "
                     f"Fano {float(ds['fano_factor'].sel(model=model)):.2f}", fontsize="small")
        _label(ax, "time from onset (ms)", "neuron, trial after trial")
    ax = axes[0][2]
    mean, cov = ds["posterior_mean"].values[:2], ds["posterior_cov"].values[:2, :2]
    ax.plot(*_ellipse(mean, cov), color="k", label="exact posterior (2 sd)")
    for i, model in enumerate(models):
        samples = ds["samples"].sel(model=model).values[:, :2]
        ax.scatter(samples[:, 0], samples[:, 1], s=3, alpha=0.4, color=f"C{i}")
        ax.plot(*_ellipse(samples.mean(0), np.cov(samples.T)), color=f"C{i}", label=LABELS[model])
    _label(ax, "latent 1", "latent 2")
    ax = axes[1][0]
    positions = np.arange(len(models))
    ax.bar(positions - 0.2, ds["kl_true_posterior"].values, 0.4, color="0.35", label="KL to the posterior")
    ax.bar(positions + 0.2, ds["kl_covariance_term"].values, 0.4, color="0.7", label="means set to the posterior's")
    ax.scatter(positions, ds["kl_bar"].values, marker="_", s=600, color="C3", label="bar: rate KL + 0.1 floor")
    ax.scatter(positions, ds["mean_field_floor"].values, marker="_", s=600, color="C2", label="mean-field floor")
    ax.set_ylim(0, 1.6 * np.nanmax(ds["kl_true_posterior"].values))  # room for the legend
    ax.set_xticks(positions, [LABELS[m].replace(", ", "\n") for m in models], fontsize="x-small")
    _label(ax, "", "KL, linear-Gaussian task (nats)")
    ax = axes[1][1]
    contrasts = ds["contrast"].values
    ax.loglog(contrasts, ds["posterior_variance_by_contrast"].values, "k-", label="exact posterior")
    for i, model in enumerate(models):
        ax.loglog(contrasts, ds["readout_variance_by_contrast"].sel(model=model).values, "o--", color=f"C{i}",
                  label=LABELS[model])
    ax.set_xticks(contrasts, [f"{c:g}" for c in contrasts])
    ax.minorticks_off()
    _label(ax, "contrast (GSM)", "variance")
    ax = axes[1][2]
    pairs = np.triu_indices(ds.sizes["latent"], 1)
    posterior = ds["posterior_correlation"].values[pairs]
    for i, model in enumerate(models):
        ax.scatter(posterior, ds["noise_correlation"].sel(model=model).values[pairs], color=f"C{i}",
                   label=LABELS[model])
    ax.plot([-1, 1], [-1, 1], color="0.5", lw=0.8)
    _label(ax, "posterior correlation", "readout noise correlation")
    return figure


if __name__ == "__main__":
    sys.exit(main_for(sys.modules[__name__]))
