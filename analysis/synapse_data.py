"""Recordings of synaptic variability and plasticity, and the statistics that test the
Bayesian-synapse predictions on them (Malkin, O'Donnell, Houghton & Aitchison 2024).

Predictions of a synapse that pays c sigma^-rho for its precision (``circuits.synapses``):
- a synapse whose presynaptic neuron fires more gets more evidence (a larger Hessian), so it
  is less variable: sigma^2 ~ H^(-2 / (2 + rho)); if H grows in proportion to the
  presynaptic rate and the mean weight does not depend on it, the normalised variability
  var / mean falls with the rate at a log-log slope of -2 / (2 + rho), -0.8 to -0.5 for the
  four mechanisms' exponents (``predicted_variability_slopes``);
- a more variable synapse is less certain, so a Bayesian learner moves it further: the
  relative weight change rises with the binomial CV^2 of release, (1 - Pr) / Pr.

Data (``analysis/data/synapse_experiments``, with its README): Ko et al. (2013), EPSP mean
and variance of 136 connections in mouse V1 with the presynaptic firing rate inferred from
calcium imaging; Sjöström, Turrigiano & Nelson (2001), release probability and relative
weight change of 30 LTP and 14 LTD recordings, as tabulated by Schug et al.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

__all__ = ["DATA_DIR", "load_ko2013", "load_sjostrom2001", "correlation_statistics", "log_log_fit",
           "loglog_slope", "predicted_variability_slopes", "cost_at_accuracy", "MECHANISM_EXPONENTS"]

DATA_DIR = Path(__file__).parent / "data" / "synapse_experiments"
_LICENCE = "CC BY 4.0, as redistributed with Malkin, O'Donnell, Houghton & Aitchison (2024), eLife 12:RP92595"
#: rho of the power-law reliability cost for each mechanism (Malkin et al. 2024).
MECHANISM_EXPONENTS = {"calcium efflux": 0.5, "vesicle membrane": 2 / 3, "actin": 4 / 3, "trafficking": 2.0}
N_BOOTSTRAP = 1000


def _read(name: str, **options):
    import pandas as pd

    path = DATA_DIR / name
    if not path.is_file():
        raise FileNotFoundError(f"bundled data file {path} is missing: reinstall the package")
    return pd.read_csv(path, **options)


def load_ko2013() -> xr.Dataset:
    """Ko et al. (2013): per connection, EPSP amplitude mean (mV) and variance (mV^2), and the
    presynaptic firing rate inferred from calcium imaging (two inference settings)."""
    table = _read("ko2013.csv", skipinitialspace=True)
    variables = {
        "epsp_mean": (table["mean"], "mV", "mean EPSP amplitude"),
        "epsp_variance": (table["var"], "mV^2", "variance of the EPSP amplitude across trials"),
        "presynaptic_rate": (table["foopsi_mean"], "1", "presynaptic firing rate inferred from calcium imaging "
                                                       "(fast-oopsi, mean setting; relative units as tabulated)"),
        "presynaptic_rate_threshold": (table["foopsi_threshold"], "1",
                                       "the same, thresholded inference setting (relative units as tabulated)"),
    }
    return xr.Dataset(
        {name: ("connection", np.asarray(values, dtype=float), {"units": units, "description": description})
         for name, (values, units, description) in variables.items()},
        coords={"connection": ("connection", np.arange(len(table)), {"units": "1", "description": "connection"})},
        attrs={"source": "ko2013.csv", "citation": "Ko et al. (2013), Nature 496:96", "licence": _LICENCE})


def load_sjostrom2001(kind: str) -> xr.Dataset:
    """Sjöström, Turrigiano & Nelson (2001), as tabulated by Schug et al.: per recording of
    ``kind`` ``"LTP"`` or ``"LTD"``, the release probability before plasticity and the relative
    size of the weight change |w_after - w_before| / w_before."""
    if kind not in ("LTP", "LTD"):
        raise ValueError(f"kind must be 'LTP' or 'LTD', got {kind!r}")
    table = _read(f"Sjostrom2001_{kind}_schug.csv", encoding="utf-8-sig")
    return xr.Dataset(
        {"release_probability": ("recording", table["Pr (before)"].to_numpy(float),
                                 {"units": "1", "description": "release probability before plasticity"}),
         "relative_weight_change": ("recording", table["dw_rel"].to_numpy(float),
                                    {"units": "1", "description": "|w after - w before| / w before"})},
        coords={"recording": ("recording", table["Recording"].str.strip().str.strip("'").to_numpy(str),
                              {"units": "1", "description": "recording"})},
        attrs={"source": f"Sjostrom2001_{kind}_schug.csv", "kind": kind,
               "citation": "Sjöström, Turrigiano & Nelson (2001), Neuron 32:1149; tabulated by Schug et al.",
               "licence": _LICENCE})


def correlation_statistics(x, y) -> dict:
    """Pearson's r and Spearman's rho with their two-sided p-values (scipy.stats), n."""
    from scipy import stats

    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or x.size < 3:
        raise ValueError(f"x and y must be matching 1-d arrays of at least 3 values, got {x.shape} and {y.shape}")
    pearson, spearman = stats.pearsonr(x, y), stats.spearmanr(x, y)
    return {"pearson_r": float(pearson.statistic), "pearson_p": float(pearson.pvalue),
            "spearman_rho": float(spearman.statistic), "spearman_p": float(spearman.pvalue), "n": int(x.size)}


def _slope(x, y) -> float:
    """Least-squares slope of y on x (with an intercept); NaN where x has no spread (a bootstrap
    resample whose rows hold fewer than two distinct kept points)."""
    if x.size < 2:
        return float("nan")
    centred = x - x.mean()
    spread = centred @ centred
    return float(centred @ (y - y.mean()) / spread) if spread > 0 else float("nan")


def loglog_slope(x, y, rng: np.random.Generator, by_row: bool = False,
                 n_bootstrap: int = N_BOOTSTRAP) -> dict:
    """Least-squares slope of log y on log x, with a 95% bootstrap interval. The bootstrap
    resamples the points, or with ``by_row`` the rows of (rows, members) arrays (e.g. one row
    per postsynaptic neuron, whose synapses are not independent); a resample with no spread in
    x has no slope and is left out of the interval. Points where x or y is not
    positive are left out (a synapse from a unit that never fires has importance 0). Returns
    ``slope``, ``low``, ``high`` and ``n_points``, the points fitted; raises ValueError with
    fewer than 3."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
    if not by_row:
        x, y = x.reshape(-1, 1), y.reshape(-1, 1)  # every point its own row
    elif x.ndim != 2:
        raise ValueError(f"by_row needs (rows, members) arrays, got shape {x.shape}")
    kept = (x > 0) & (y > 0) & np.isfinite(x) & np.isfinite(y)
    if kept.sum() < 3:
        raise ValueError(f"loglog_slope needs at least 3 points with positive x and y, got {int(kept.sum())}")
    x, y = np.log(np.where(kept, x, 1.0)), np.log(np.where(kept, y, 1.0))

    picks = rng.integers(0, x.shape[0], (n_bootstrap, x.shape[0]))
    draws = [_slope(x[rows][kept[rows]], y[rows][kept[rows]]) for rows in picks]
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    return {"slope": _slope(x[kept], y[kept]), "low": float(low), "high": float(high), "n_points": int(kept.sum())}


def log_log_fit(x, y) -> dict:
    """Least-squares slope and intercept of log y on log x, the slope's standard error, and
    ``correlation_statistics`` of the logs (x, y > 0)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if np.any(x <= 0) or np.any(y <= 0):
        raise ValueError("log_log_fit needs positive x and y")
    log_x, log_y = np.log(x), np.log(y)
    centred = log_x - log_x.mean()
    slope = _slope(log_x, log_y)
    intercept = float(log_y.mean() - slope * log_x.mean())
    residual = log_y - intercept - slope * log_x
    slope_se = float(np.sqrt(residual @ residual / (x.size - 2) / (centred @ centred)))
    return {"slope": slope, "intercept": intercept, "slope_se": slope_se, **correlation_statistics(log_x, log_y)}


def predicted_variability_slopes() -> dict:
    """Log-log slope of var / mean on presynaptic rate for each mechanism, -2 / (2 + rho),
    under the assumptions in the module docstring (H proportional to the rate, mean weight
    independent of it)."""
    return {name: -2.0 / (2.0 + rho) for name, rho in MECHANISM_EXPONENTS.items()}


def cost_at_accuracy(costs, accuracy, level: float) -> float:
    """The cost strength at which ``accuracy`` first falls below ``level`` as the cost grows,
    interpolated linearly in log cost between the two sweep points that bracket it (e.g.
    ``level`` halfway from the small-cost accuracy to chance). ``costs`` > 0, any order. NaN
    if the accuracy never falls below ``level``; ValueError if it starts below it."""
    costs, accuracy = np.asarray(costs, dtype=float), np.asarray(accuracy, dtype=float)
    if costs.shape != accuracy.shape or costs.ndim != 1 or costs.size < 2:
        raise ValueError(f"costs and accuracy must be 1-D of the same length >= 2, got {costs.shape}, "
                         f"{accuracy.shape}")
    if np.any(costs <= 0):
        raise ValueError("costs must be > 0")
    order = np.argsort(costs)
    log_cost, accuracy = np.log(costs[order]), accuracy[order]
    if accuracy[0] < level:
        raise ValueError(f"the accuracy at the smallest cost ({accuracy[0]:g}) is already below level {level:g}")
    below = np.flatnonzero(accuracy < level)
    if below.size == 0:
        return float("nan")
    after = below[0]
    fraction = (accuracy[after - 1] - level) / (accuracy[after - 1] - accuracy[after])
    return float(np.exp(log_cost[after - 1] + fraction * (log_cost[after] - log_cost[after - 1])))
