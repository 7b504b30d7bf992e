"""Synaptic variability and plasticity in recordings, against the predictions of synapses that
pay for their own reliability (Malkin, O'Donnell, Houghton & Aitchison 2024;
``analysis.synapse_data``).

(a) Ko et al. (2013): normalised EPSP variability (variance / mean) against the presynaptic
firing rate inferred from calcium imaging, log-log, with the least-squares line and the
predicted slopes -2 / (2 + rho) for the four mechanisms' exponents (drawn through the data's
centroid: the prediction is a slope, not an offset). (b) Sjöström et al. (2001): relative
weight change against the binomial CV^2 of release, (1 - Pr) / Pr, for LTP and LTD; the
prediction is a positive relation. Statistics: Pearson's r of the logs and Spearman's rho,
with two-sided p-values (scipy.stats). The figure is the data alone: nothing is trained, so
``seed`` and ``quick`` change nothing.
"""

from __future__ import annotations

import sys

import numpy as np

from analysis.plots import _label, new_panels
from simulations.figures._common import figure_dataset, index, main_for
from simulations.results import scalar, variable

NAME = "synapse-data"
DESCRIPTION = "EPSP variability vs presynaptic rate (Ko 2013) and weight change vs release CV^2 (Sjöström 2001)"
KINDS = ("LTP", "LTD")


def _statistics(prefix: str, fit: dict, what: str) -> dict:
    return {
        f"{prefix}_slope": scalar(fit["slope"], "1", f"least-squares log-log slope, {what}"),
        f"{prefix}_slope_se": scalar(fit["slope_se"], "1", "its standard error"),
        f"{prefix}_intercept": scalar(fit["intercept"], "1", "intercept of the log-log line"),
        f"{prefix}_pearson_r": scalar(fit["pearson_r"], "1", f"Pearson r of the logs, {what}"),
        f"{prefix}_pearson_p": scalar(fit["pearson_p"], "1", "its two-sided p-value"),
        f"{prefix}_spearman_rho": scalar(fit["spearman_rho"], "1", f"Spearman rho, {what}"),
        f"{prefix}_spearman_p": scalar(fit["spearman_p"], "1", "its two-sided p-value"),
    }


def build(seed: int = 1, quick: bool = False, progress: bool = False):
    from analysis.synapse_data import load_ko2013, load_sjostrom2001, log_log_fit, predicted_variability_slopes

    ko = load_ko2013()
    variability = ko["epsp_variance"].values / ko["epsp_mean"].values
    data_vars = {
        "presynaptic_rate": ko["presynaptic_rate"].variable,
        "normalised_variability": variable("connection", variability, "mV", "EPSP variance / mean (Ko et al. 2013)"),
        **_statistics("ko", log_log_fit(ko["presynaptic_rate"].values, variability),
                      "var / mean on presynaptic rate (mean inference setting)"),
        **_statistics("ko_threshold", log_log_fit(ko["presynaptic_rate_threshold"].values, variability),
                      "var / mean on presynaptic rate (thresholded inference setting)"),
        "predicted_slope": variable("mechanism", list(predicted_variability_slopes().values()), "1",
                                    "predicted log-log slope of var / mean on rate, -2 / (2 + rho)"),
    }
    coords = {"connection": ko["connection"].variable,
              "mechanism": index("mechanism", np.array(list(predicted_variability_slopes())), "synaptic mechanism")}
    for kind in KINDS:
        table = load_sjostrom2001(kind)
        probability = table["release_probability"].values
        dim = f"recording_{kind.lower()}"
        data_vars[f"{kind.lower()}_release_cv2"] = variable(dim, (1 - probability) / probability, "1",
                                                            "binomial CV^2 of release before plasticity, (1 - Pr) / Pr")
        data_vars[f"{kind.lower()}_relative_weight_change"] = variable(dim, table["relative_weight_change"].values,
                                                                       "1", f"|dw| / w, {kind}")
        data_vars.update(_statistics(kind.lower(), log_log_fit((1 - probability) / probability,
                                                               table["relative_weight_change"].values),
                                     f"relative weight change on release CV^2, {kind}"))
        coords[dim] = index(dim, table["recording"].values, f"{kind} recording")
    return figure_dataset(NAME, data_vars, coords, seed, quick, data="analysis/data/synapse_experiments",
                          citations=[ko.attrs["citation"], table.attrs["citation"]], licence=ko.attrs["licence"])


def _line(ax, x, slope, intercept, **style):
    grid = np.geomspace(x.min(), x.max(), 20)
    ax.plot(grid, np.exp(intercept) * grid**slope, **style)


def _stats_text(ds, prefix):
    return (f"r = {float(ds[f'{prefix}_pearson_r']):.2f} (p = {float(ds[f'{prefix}_pearson_p']):.2g}), "
            f"rho = {float(ds[f'{prefix}_spearman_rho']):.2f} (p = {float(ds[f'{prefix}_spearman_p']):.2g})")


def plot(ds):
    figure, axes = new_panels(1, 2, panel_width=4.4)
    ax = axes[0][0]
    rate, variability = ds["presynaptic_rate"].values, ds["normalised_variability"].values
    ax.loglog(rate, variability, "o", ms=3, color="0.4", label="Ko et al. 2013")
    _line(ax, rate, float(ds["ko_slope"]), float(ds["ko_intercept"]), color="C0",
          label=f"fit: slope {float(ds['ko_slope']):.2f} ± {float(ds['ko_slope_se']):.2f}")
    centre_x, centre_y = np.log(rate).mean(), np.log(variability).mean()
    for i, style in ((0, "--"), (-1, ":")):
        slope = float(ds["predicted_slope"][i])
        _line(ax, rate, slope, centre_y - slope * centre_x, color="C3", ls=style,
              label=f"predicted {slope:.2f} ({ds['mechanism'].values[i]})")
    ax.set_title(_stats_text(ds, "ko"), fontsize=7)
    _label(ax, "presynaptic rate (inferred, relative units)", "EPSP variance / mean (mV)")
    ax.legend(fontsize=7)
    ax = axes[0][1]
    for kind, color in zip(KINDS, ("C1", "C2"), strict=True):
        key = kind.lower()
        cv2, change = ds[f"{key}_release_cv2"].values, ds[f"{key}_relative_weight_change"].values
        ax.loglog(cv2, change, "o", ms=4, color=color, label=f"{kind}: {_stats_text(ds, key)}")
        _line(ax, cv2, float(ds[f"{key}_slope"]), float(ds[f"{key}_intercept"]), color=color)
    ax.set_title("prediction: positive relation", fontsize=7)
    _label(ax, "release CV$^2$ = (1 - Pr) / Pr", "relative weight change")
    ax.legend(fontsize=6)
    return figure


if __name__ == "__main__":
    sys.exit(main_for(sys.modules[__name__]))
