"""How far each reliability-cost family takes the trained variability from the posterior, as
a function of cost strength, with each family's exact optimum on the same axes.

Single-layer circuits on the linear-Gaussian task: neuron i's trained noise variance against
the exact optimum of its cost (``optimal_variance``: lambda / H_ii for the log cost, whose
strength 1 gives the mean-field posterior variance 1 / H_ii), both divided by the posterior
variance Sigma_ii. The power law uses rho = 1/2 (Malkin et al. 2024's calcium-pump
exponent); the biophysical cost is a power law of exponent 2 set by the release sites.
"""

from __future__ import annotations

import sys

import numpy as np

from analysis.plots import _label, new_panels
from circuits.reliability import COST_FAMILIES, make_cost
from simulations.experiments import run_linear_gaussian
from simulations.figures._common import figure_dataset, index, main_for
from simulations.results import variable

NAME = "cost-families"
DESCRIPTION = "trained variance / posterior variance against cost strength for each reliability-cost family"
POWER_EXPONENT = 0.5


def build(seed: int = 1, quick: bool = False, progress: bool = False):
    strengths = np.array([0.25, 4.0] if quick else [0.0625, 0.25, 1.0, 4.0, 16.0])
    options = dict(steps=400, samples=100) if quick else dict(steps=3000, samples=200)
    shape = (len(COST_FAMILIES), len(strengths))
    measured, optimum, kl = np.zeros(shape), np.zeros(shape), np.zeros(shape)
    for f, family in enumerate(COST_FAMILIES):
        exponent = POWER_EXPONENT if family == "power" else None
        for s, strength in enumerate(strengths):
            ds = run_linear_gaussian(seed, architecture="single-layer", cost=family, cost_strength=float(strength),
                                     cost_exponent=exponent, progress=progress, **options)
            posterior_variance = np.diagonal(ds["posterior_cov"].values)
            precision_diagonal = np.diagonal(np.linalg.inv(ds["posterior_cov"].values))
            response_variance = np.diagonal(ds["model_response_cov"].values[0])
            exact = make_cost(family, float(strength), exponent).optimal_variance(precision_diagonal)
            measured[f, s] = np.mean(response_variance / posterior_variance)
            optimum[f, s] = np.mean(exact / posterior_variance)
            kl[f, s] = float(ds["kl_moment_matched"])
    data_vars = {
        "variance_ratio": variable(("cost", "strength"), measured, "1",
                                   "mean over neurons of trained response variance / posterior variance"),
        "optimal_variance_ratio": variable(("cost", "strength"), optimum, "1",
                                           "the same for the cost's exact optimum (circuits.reliability)"),
        "kl": variable(("cost", "strength"), kl, "nats", "KL(moment-matched responses || exact posterior)"),
    }
    coords = {"cost": index("cost", list(COST_FAMILIES), "reliability-cost family"),
              "strength": index("strength", strengths, "cost strength lambda (energy_per_site for biophysical)")}
    return figure_dataset(NAME, data_vars, coords, seed, quick, architecture="single-layer",
                          power_exponent=POWER_EXPONENT, **options)


def plot(ds):
    figure, axes = new_panels(1, 2)
    ax_ratio, ax_kl = axes[0]
    strengths = ds["strength"].values
    for f, family in enumerate(ds["cost"].values):
        line, = ax_ratio.loglog(strengths, ds["variance_ratio"].values[f], "o", label=f"{family}: trained")
        ax_ratio.loglog(strengths, ds["optimal_variance_ratio"].values[f], "-", color=line.get_color(),
                        label=f"{family}: exact optimum")
        ax_kl.loglog(strengths, ds["kl"].values[f], "o-", color=line.get_color(), label=str(family))
    ax_ratio.axhline(1.0, color="k", ls=":", lw=1)
    _label(ax_ratio, "cost strength", "response variance / posterior variance")
    _label(ax_kl, "cost strength", "KL to exact posterior (nats)")
    return figure


if __name__ == "__main__":
    sys.exit(main_for(sys.modules[__name__]))
