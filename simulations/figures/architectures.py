"""KL to the exact linear-Gaussian posterior for each circuit architecture, across seeds, and
the trained response variances against the posterior variances.

A single-layer circuit has independent noise, so its KL cannot go below the mean-field floor
(the KL of the best factorised Gaussian); multi-layer and recurrent circuits can correlate
their noise and approach zero (Aitchison, Hennequin & Lengyel 2018 for the single layer).
"""

from __future__ import annotations

import sys

import numpy as np

from analysis.plots import _label, identity_scatter, new_panels
from simulations.experiments import ARCHITECTURES, run_linear_gaussian
from simulations.figures._common import figure_dataset, index, main_for
from simulations.results import config_of, variable

NAME = "architectures"
DESCRIPTION = "KL to the exact posterior per architecture across seeds; response vs posterior variances"


def build(seed: int = 1, quick: bool = False, progress: bool = False):
    # Quick (CI) mode: one seed and short training, to check the pipeline, not the science.
    seeds = [seed + offset for offset in range(1 if quick else 3)]
    options = dict(steps=200, samples=100) if quick else dict(steps=3000, samples=500)
    kl = np.zeros((len(ARCHITECTURES), len(seeds)))
    correlation_match = np.zeros_like(kl)
    floor = np.zeros(len(seeds))
    response_variance, posterior_variance = [], []
    for a, architecture in enumerate(ARCHITECTURES):
        per_seed_response, per_seed_posterior = [], []
        for s, run_seed in enumerate(seeds):
            ds = run_linear_gaussian(run_seed, architecture=architecture, progress=progress, **options)
            kl[a, s] = float(ds["kl_moment_matched"])
            correlation_match[a, s] = float(ds["noise_correlation_match"])
            floor[s] = float(ds["mean_field_floor"])
            # The circuit's exact response covariance (input-independent here), not a sample estimate.
            per_seed_response.append(np.diagonal(ds["model_response_cov"].values[0]))
            per_seed_posterior.append(np.diagonal(ds["posterior_cov"].values))
        response_variance.append(per_seed_response)
        posterior_variance.append(per_seed_posterior)
    data_vars = {
        "kl": variable(("architecture", "seed"), kl, "nats", "KL(moment-matched responses || exact posterior), "
                                                              "mean over test stimuli"),
        "mean_field_floor": variable("seed", floor, "nats", "smallest KL of independent-noise responses"),
        "noise_correlation_match": variable(("architecture", "seed"), correlation_match, "1",
                                            "Pearson correlation of response noise correlations with the "
                                            "posterior's, over pairs"),
        "response_variance": variable(("architecture", "seed", "latent"), np.array(response_variance), "1",
                                      "the trained circuit's response variance"),
        "posterior_variance": variable(("architecture", "seed", "latent"), np.array(posterior_variance), "1",
                                       "exact posterior variance"),
    }
    coords = {"architecture": index("architecture", list(ARCHITECTURES), "circuit architecture"),
              "seed": index("seed", seeds, "seed of the task and the circuit"),
              "latent": index("latent", np.arange(len(response_variance[0][0])), "latent")}
    return figure_dataset(NAME, data_vars, coords, seed, quick, task="linear-gaussian", **options)


def plot(ds):
    figure, axes = new_panels(1, 2)
    ax_kl, ax_var = axes[0]
    names = [str(name) for name in ds["architecture"].values]
    positions = np.arange(len(names))
    kl = ds["kl"].values
    ax_kl.bar(positions, kl.mean(1), color="0.8", label="mean over seeds")
    for s in range(kl.shape[1]):
        ax_kl.plot(positions, kl[:, s], "o", ms=4, color="C0", label="one seed" if s == 0 else None)
    # Each seed has its own task, hence its own floor.
    ax_kl.plot(np.zeros(kl.shape[1]), ds["mean_field_floor"].values, "k_", ms=24, mew=1.5,
               label="mean-field floor (per seed)")
    ax_kl.set_xticks(positions, names)
    ax_kl.set_yscale("log")
    _label(ax_kl, "architecture", "KL to exact posterior (nats)")
    for a, name in enumerate(names):
        identity_scatter(ax_var, ds["posterior_variance"].values[a], ds["response_variance"].values[a], label=name)
    _label(ax_var, "posterior variance", "response variance")
    figure.suptitle(f"linear-Gaussian task, {config_of(ds)['steps']} training steps")
    return figure


if __name__ == "__main__":
    sys.exit(main_for(sys.modules[__name__]))
