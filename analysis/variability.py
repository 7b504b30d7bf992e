"""Variability of sampled responses: autocorrelation, effective sample size, and the plug-in
KL bias floor that a finite, correlated sample cannot beat."""

from __future__ import annotations

import numpy as np

from analysis import _validation as check

__all__ = ["effective_sample_size", "plugin_kl_floor", "state_indicator_ess"]


def effective_sample_size(samples, chain_axis: int | None = 0, draw_axis: int = 1) -> np.ndarray:
    """Effective sample size of the mean of each series, pooled over chains.

    Uses the well-tested estimator of ``arviz_stats`` (method ``"mean"``: autocorrelations
    from all chains combined, summed with Geyer's initial monotone sequence; Vehtari,
    Gelman, Simpson, Carpenter & Buerkner 2021). ``samples`` has a chain axis (or None for a
    single chain) and a draw axis; the result has the remaining axes.
    """
    from arviz_stats.base import array_stats

    samples = np.asarray(samples, dtype=float)
    if chain_axis is None:
        samples = samples[np.newaxis]
        chain_axis, draw_axis = 0, draw_axis + 1 if draw_axis >= 0 else draw_axis
    if samples.shape[draw_axis] < 4:
        raise ValueError(f"need at least 4 draws per chain, got {samples.shape[draw_axis]}")
    if not np.all(np.isfinite(samples)):
        raise ValueError("samples must be finite")
    return np.asarray(array_stats.ess(samples, chain_axis=chain_axis, draw_axis=draw_axis, method="mean"))


def state_indicator_ess(state_indices, n_states: int) -> np.ndarray:
    """ESS of the indicator 1[s(t) = s] for every state s, from state indices (chain, draw).

    States never visited, or visited at every draw, have no defined ESS: NaN.
    """
    state_indices = np.asarray(state_indices)
    if state_indices.ndim != 2:
        raise ValueError(f"state_indices must be (chain, draw), got shape {state_indices.shape}")
    ess = np.full(n_states, np.nan)
    visits = np.bincount(state_indices.reshape(-1), minlength=n_states)
    for state in np.flatnonzero((visits > 0) & (visits < state_indices.size)):
        ess[state] = effective_sample_size(state_indices == state, 0, 1)
    return ess


def plugin_kl_floor(n_states: int, n_effective) -> np.ndarray:
    """Expected plug-in KL(histogram || p) from n_effective independent draws:
    (n_states - 1) / (2 n_effective), nats (the chi-square limit of the multinomial
    log-likelihood ratio; valid once every state is expected to be visited several times)."""
    n_states = int(check.count("n_states", n_states, 2))
    n_effective = np.asarray(n_effective, dtype=float)
    if np.any(~np.isfinite(n_effective)) or np.any(n_effective <= 0):
        raise ValueError("n_effective must be finite and > 0")
    return (n_states - 1) / (2.0 * n_effective)
