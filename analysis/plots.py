"""Figure building blocks (matplotlib). Each takes a results Dataset and an optional Axes and
returns the Axes; none calls pyplot, so they work under any backend and in scripts."""

from __future__ import annotations

import json

__all__ = ["new_axes", "new_panels", "identity_scatter", "line_with_band", "plot_kl_vs_time", "plot_implicit_em",
           "plot_agop", "PLOTS"]


def new_axes(width: float = 4.5, height: float = 3.5):
    """A (Figure, Axes) pair not registered with pyplot (save with ``figure.savefig``)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), layout="constrained")
    return figure, figure.subplots()


def new_panels(n_rows: int, n_cols: int, panel_width: float = 3.6, panel_height: float = 3.0):
    """A (Figure, Axes array) grid of panels, not registered with pyplot; panels are lettered."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(panel_width * n_cols, panel_height * n_rows), layout="constrained")
    axes = figure.subplots(n_rows, n_cols, squeeze=False)
    for index, ax in enumerate(axes.flat):
        ax.set_title(chr(ord("a") + index), loc="left", fontweight="bold")
    return figure, axes


def _label(ax, xlabel: str, ylabel: str):
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(frameon=False, fontsize="small")
    return ax


def identity_scatter(ax, exact, measured, label: str = "", **style):
    """Measured against exact values with the identity line: on it, the circuit is exact."""
    import numpy as np

    exact, measured = np.ravel(exact), np.ravel(measured)
    style.setdefault("marker", "o")
    ax.plot(exact, measured, ls="none", ms=4, alpha=0.8, label=label, **style)
    low = min(exact.min(), measured.min(), 0.0)
    high = max(exact.max(), measured.max())
    ax.plot([low, high], [low, high], "k:", lw=1)
    return ax


def line_with_band(ax, x, y, se, label: str = "", **style):
    """A line with a +-1 standard-error band."""
    import numpy as np

    line, = ax.plot(x, y, label=label, **style)
    ax.fill_between(x, np.asarray(y) - se, np.asarray(y) + se, color=line.get_color(), alpha=0.25, lw=0)
    return line


def plot_kl_vs_time(ds, ax=None):
    """Log-log KL(sampled || exact) against simulated time for the spiking sampler, with the
    Gibbs reference at matched sample count and the plug-in bias floor (a ``boltzmann`` run)."""
    if ax is None:
        _, ax = new_axes()
    time = ds["sampled_time"].values
    neuron = json.loads(ds.attrs.get("config", "{}")).get("neuron", "")
    ax.loglog(time, ds["kl_sampled"].values, "o-", ms=3, label=f"spiking sampler {neuron}".strip())
    ax.loglog(time, ds["kl_gibbs"].values, "s-", ms=3, alpha=0.7, label="Gibbs, same sample count")
    ax.loglog(time, ds["kl_floor"].values, "k--", label="bias floor $(2^K-1)/2N_{eff}$")
    return _label(ax, "simulated time (s)", "KL(sampled || exact) (nats)")


def plot_implicit_em(ds, ax=None):
    """Mean log-likelihood against iteration for EM and gradient ascent (an ``implicit-em`` run)."""
    if ax is None:
        _, ax = new_axes()
    em = ds["em_log_likelihood"]
    gradient = ds["gradient_log_likelihood"]
    ax.semilogx(em["em_iteration"].values + 1, em.values, "o-", ms=3, label="EM")
    ax.semilogx(gradient["gradient_iteration"].values + 1, gradient.values, "-", label="gradient ascent (Adam)")
    ax.axhline(float(em.values[-1]), color="k", ls=":", lw=1)
    return _label(ax, "iteration + 1", "mean log-likelihood (nats)")


def plot_agop(ds, ax=None):
    """corr(W^T W, AGOP^alpha) against alpha for deep linear networks, theory 1/L marked (an ``agop`` run)."""
    if ax is None:
        _, ax = new_axes()
    for depth in ds["depth"].values:
        curve = ds["linear_correlation"].sel(depth=depth)
        line, = ax.plot(ds["exponent"].values, curve.values, label=f"depth {depth}")
        ax.axvline(1 / depth, color=line.get_color(), ls=":", lw=1)
    return _label(ax, "exponent alpha", "corr(W^T W, AGOP^alpha)")


#: The plot each experiment's ``--plot`` option draws.
PLOTS = {"boltzmann": plot_kl_vs_time, "implicit-em": plot_implicit_em, "agop": plot_agop}
