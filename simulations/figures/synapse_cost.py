"""Held-out accuracy and synapse sds against the cost strength c: networks whose every synapse
pays for its own reliability against the published control with one sd for the whole network
(Malkin, O'Donnell, Houghton & Aitchison 2024; ``simulations.synapse_experiments``).

The digits classifier (64-100-100-10) of ``run synapses --task digits``, power cost c sigma^-rho
with rho = 2 (trafficking), for both kinds of noise over five decades of c and three training
seeds. (a) accuracy with the weights drawn afresh for every held-out image, mean and SE over
seeds, with chance (0.1) and the c at which each network falls halfway from its own small-c
accuracy to chance (``analysis.synapse_data.cost_at_accuracy``, per seed); (b) the RMS sd over
every synapse and over the synapses below 0.9 of the bound (the ones the loss holds back).

The sds are bounded at ``MAX_WEIGHT_STD`` = 10, not the experiment's default of 1: with every
sd at 1 the means grow to beat the noise and both networks still classify about 55% of the
images, which is the halfway level itself, so the halfway point would not be defined. The
halfway ratio is per seed (per-synapse over uniform) and summarised by the geometric mean and
the SE of its log over seeds.
"""

from __future__ import annotations

import sys

import numpy as np

from analysis.plots import _label, line_with_band, new_panels
from analysis.synapse_data import cost_at_accuracy
from circuits.synapses import NOISE_KINDS
from simulations.figures._common import figure_dataset, index, main_for
from simulations.results import config_of, scalar, variable
from simulations.synapse_experiments import run_synapses

NAME = "synapse-cost"
DESCRIPTION = "accuracy and synapse sd against cost strength, per-synapse noise against one shared sd (digits)"
COST_EXPONENT = 2.0
MAX_WEIGHT_STD = 10.0
CHANCE = 0.1
N_SEEDS = 3
#: Cost strengths c, those of examples/sweeps/synapses_digits.toml, which reruns the figure's trainings.
STRENGTHS = (1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2)
QUICK_STRENGTHS = (1e-7, 1e-4, 1e-3, 1e-2)


def _interior_rms(ds) -> float:
    """RMS sd over the synapses below 0.9 of the bound (NaN if none)."""
    stds = np.concatenate([ds[name].values.ravel() for name in ds.data_vars if name.startswith("weight_std_")])
    interior = stds[stds < 0.9 * MAX_WEIGHT_STD]
    return float(np.sqrt(np.mean(interior**2))) if interior.size else float("nan")


def build(seed: int = 1, quick: bool = False, progress: bool = False):
    strengths = np.array(QUICK_STRENGTHS if quick else STRENGTHS)
    steps = 1000 if quick else None  # None: the experiment's default training
    seeds = np.arange(seed, seed + N_SEEDS)
    shape = (len(NOISE_KINDS), len(seeds), len(strengths))
    measures = {name: np.zeros(shape) for name in ("test_accuracy", "test_accuracy_at_mean", "rms_weight_std",
                                                   "rms_weight_std_interior")}
    for n, noise in enumerate(NOISE_KINDS):
        for s, run_seed in enumerate(seeds):
            for c, strength in enumerate(strengths):
                ds = run_synapses(int(run_seed), task="digits", cost_strength=float(strength),
                                  cost_exponent=COST_EXPONENT, noise=noise, steps=steps,
                                  max_weight_std=MAX_WEIGHT_STD, progress=progress)
                for name in ("test_accuracy", "test_accuracy_at_mean", "rms_weight_std"):
                    measures[name][n, s, c] = float(ds[name])
                measures["rms_weight_std_interior"][n, s, c] = _interior_rms(ds)
    halfway = np.array([[cost_at_accuracy(strengths, accuracy, (accuracy[0] + CHANCE) / 2) for accuracy in by_seed]
                        for by_seed in measures["test_accuracy"]])
    log_ratio = np.log(halfway[NOISE_KINDS.index("per-synapse")] / halfway[NOISE_KINDS.index("uniform")])
    data_vars = {
        "test_accuracy": variable(("noise", "seed", "strength"), measures["test_accuracy"], "1",
                                  "held-out fraction correct, weights drawn afresh for every image"),
        "test_accuracy_at_mean": variable(("noise", "seed", "strength"), measures["test_accuracy_at_mean"], "1",
                                          "held-out fraction correct with every weight at its mean"),
        "rms_weight_std": variable(("noise", "seed", "strength"), measures["rms_weight_std"], "1",
                                   "RMS sd over every synapse"),
        "rms_weight_std_interior": variable(("noise", "seed", "strength"), measures["rms_weight_std_interior"], "1",
                                            "RMS sd over the synapses below 0.9 max_weight_std"),
        "halfway_cost": variable(("noise", "seed"), halfway, "1",
                                 "c at which the accuracy falls halfway from its smallest-c value to chance "
                                 "(log-linear interpolation; NaN if it never does)"),
        "halfway_ratio": scalar(float(np.exp(np.mean(log_ratio))), "1",
                                "geometric mean over seeds of halfway_cost per-synapse / uniform"),
        "halfway_log_ratio_se": scalar(float(np.std(log_ratio, ddof=1) / np.sqrt(len(seeds))), "1",
                                       "SE over seeds of the log of that ratio"),
    }
    coords = {"noise": index("noise", list(NOISE_KINDS), "one sd per synapse, or one for the network"),
              "seed": index("seed", seeds, "training seed"),
              "strength": index("strength", strengths, "cost strength c (nats per sigma^-rho)")}
    return figure_dataset(NAME, data_vars, coords, seed, quick, task="digits", cost="power",
                          cost_exponent=COST_EXPONENT, max_weight_std=MAX_WEIGHT_STD, steps=steps, chance=CHANCE)


def plot(ds):
    figure, axes = new_panels(1, 2)
    ax_accuracy, ax_std = axes[0]
    strengths = ds["strength"].values
    n_seeds = ds.sizes["seed"]
    for n, noise in enumerate(ds["noise"].values):
        accuracy = ds["test_accuracy"].values[n]
        se = accuracy.std(axis=0, ddof=1) / np.sqrt(n_seeds) if n_seeds > 1 else np.zeros(len(strengths))
        line = line_with_band(ax_accuracy, strengths, accuracy.mean(axis=0), se, label=str(noise), marker="o")
        halfway = ds["halfway_cost"].values[n]
        for cost in halfway[np.isfinite(halfway)]:
            ax_accuracy.axvline(cost, color=line.get_color(), ls=":", lw=1)
        for name, style, which in (("rms_weight_std", "-", "all"), ("rms_weight_std_interior", "--", "below bound")):
            ax_std.loglog(strengths, np.nanmean(ds[name].values[n], axis=0), style, marker="o",
                          color=line.get_color(), label=f"{noise}, {which}")
    ax_accuracy.set_xscale("log")
    ax_accuracy.axhline(config_of(ds)["chance"], color="k", ls=":", lw=1)
    ax_accuracy.set_title(f"halfway c ratio {float(ds['halfway_ratio']):.3g}", fontsize=9)
    _label(ax_accuracy, "cost strength c", "held-out accuracy (noisy weights)")
    _label(ax_std, "cost strength c", "RMS synapse sd")
    return figure


if __name__ == "__main__":
    sys.exit(main_for(sys.modules[__name__]))
