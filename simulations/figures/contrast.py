"""Response mean and variance against contrast on the Gaussian-scale-mixture task, with the
exact posterior moments on the same axes (Orban, Berkes, Fiser & Lengyel 2016: in a sampling
code the mean grows and the variance falls with contrast).

The same latents z are shown at every contrast; per contrast the figure averages over test
stimuli and latents |E[r]| against |posterior mean| and Var[r] against the posterior variance.
"""

from __future__ import annotations

import sys

import numpy as np

from analysis.plots import _label, line_with_band, new_panels
from simulations.experiments import run_gsm
from simulations.figures._common import figure_dataset, index, main_for
from simulations.results import config_of, scalar, variable

NAME = "contrast"
DESCRIPTION = "response mean and variance vs contrast on the GSM task, with the exact posterior"
CONTRASTS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0)


def _per_contrast(values, contrast, levels):
    """Mean and standard error over the stimuli (and latents) shown at each contrast level."""
    groups = [values[contrast == level].reshape(-1) for level in levels]
    return (np.array([g.mean() for g in groups]),
            np.array([g.std(ddof=1) / np.sqrt(g.size) for g in groups]))


def build(seed: int = 1, quick: bool = False, progress: bool = False):
    options = dict(steps=400, samples=100, n_test=4) if quick else dict(steps=3000, samples=500, n_test=16)
    ds = run_gsm(seed, contrast_levels=CONTRASTS, progress=progress, **options)
    contrast = ds["stimulus_contrast"].values
    responses = ds["r"].values
    measured = {
        "response_mean": np.abs(responses.mean(1)),
        "posterior_mean": np.abs(ds["posterior_mean"].values),
        "response_variance": responses.var(1, ddof=1),
        "posterior_variance": np.diagonal(ds["posterior_cov"].values, axis1=1, axis2=2),
    }
    descriptions = {"response_mean": "|trial-averaged response|", "posterior_mean": "|exact posterior mean|",
                    "response_variance": "response variance across trials",
                    "posterior_variance": "exact posterior variance"}
    data_vars = {}
    for name, values in measured.items():
        mean, se = _per_contrast(values, contrast, CONTRASTS)
        data_vars[name] = variable("contrast", mean, "1", f"{descriptions[name]}, mean over stimuli and latents")
        data_vars[f"{name}_se"] = variable("contrast", se, "1", "its standard error over stimuli and latents")
    # The fall of the variance from the lowest to the highest contrast, paired: the same latents z
    # are shown at both (stimuli are ordered level by level, the base latents in the same order),
    # so differences between latents and between base stimuli cancel; the SE is over base stimuli.
    lowest, highest = (measured["response_variance"][contrast == level].mean(1) for level in (CONTRASTS[0],
                                                                                            CONTRASTS[-1]))
    paired_drop = lowest - highest
    data_vars["variance_drop"] = scalar(paired_drop.mean(), "1", f"response variance at c = {CONTRASTS[0]} minus "
                                                                 f"at c = {CONTRASTS[-1]}, same latents, mean over "
                                                                 "base stimuli")
    data_vars["variance_drop_se"] = scalar(paired_drop.std(ddof=1) / np.sqrt(paired_drop.size), "1",
                                           "its standard error over the base stimuli")
    coords = {"contrast": index("contrast", CONTRASTS, "contrast c of the test stimuli")}
    return figure_dataset(NAME, data_vars, coords, seed, quick, task="gsm", architecture="single-layer",
                          **options)


def plot(ds):
    figure, axes = new_panels(1, 2)
    contrasts = ds["contrast"].values
    for ax, moment in zip(axes[0], ("mean", "variance"), strict=True):
        line_with_band(ax, contrasts, ds[f"posterior_{moment}"].values, ds[f"posterior_{moment}_se"].values,
                       label="exact posterior given each stimulus (quadrature over c)", color="k")
        line_with_band(ax, contrasts, ds[f"response_{moment}"].values, ds[f"response_{moment}_se"].values,
                       label="trained circuit", color="C1", marker="o")
        ax.set_xscale("log")
        ax.set_xticks(contrasts, [f"{c:g}" for c in contrasts], minor=False)
        ax.set_xticks([], minor=True)
        _label(ax, "contrast", "|mean|" if moment == "mean" else "variance")
    axes[0][1].set_yscale("log")
    figure.suptitle(f"GSM task, single-layer circuit, {config_of(ds)['steps']} training steps")
    return figure


if __name__ == "__main__":
    sys.exit(main_for(sys.modules[__name__]))
