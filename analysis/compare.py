"""Distances between a circuit's response distribution and the exact posterior.

All divergences are in nats. Gaussian functions broadcast over leading (batch) dimensions.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from analysis import _validation as check
from analysis.generative import state_index

__all__ = [
    "gaussian_kl",
    "discrete_kl",
    "total_variation",
    "state_histogram",
    "mean_field_kl_floor",
    "moment_match",
    "mixture_moments",
    "empirical_coverage",
    "gaussian_coverage",
    "correlation_from_cov",
    "off_diagonal_correlation",
    "correlation_agreement",
    "compare_to_gaussian",
]


def gaussian_kl(mean_p, cov_p, mean_q, cov_q) -> np.ndarray:
    """KL(N(mean_p, cov_p) || N(mean_q, cov_q)) in nats.

    Swap the arguments for the other direction. Means (..., K), covariances (..., K, K);
    leading dimensions broadcast.

    KL = 1/2 [tr(S_q^-1 S_p) + d^T S_q^-1 d - K + log det S_q - log det S_p], d = m_q - m_p.
    """
    mean_p, mean_q = np.asarray(mean_p, float), np.asarray(mean_q, float)
    cov_p, cov_q = np.asarray(cov_p, float), np.asarray(cov_q, float)
    k = mean_p.shape[-1]
    if cov_p.shape[-2:] != (k, k) or cov_q.shape[-2:] != (k, k) or mean_q.shape[-1] != k:
        raise ValueError("means must be (..., K) and covariances (..., K, K) with one K")
    lead = np.broadcast_shapes(mean_p.shape[:-1], mean_q.shape[:-1], cov_p.shape[:-2], cov_q.shape[:-2])
    diff = np.broadcast_to(mean_q - mean_p, lead + (k,))
    try:
        chol_p = np.broadcast_to(np.linalg.cholesky(cov_p), lead + (k, k))
        chol_q = np.broadcast_to(np.linalg.cholesky(cov_q), lead + (k, k))
    except np.linalg.LinAlgError:
        raise ValueError("covariances must be positive definite") from None
    trace_term = (np.linalg.solve(chol_q, chol_p) ** 2).sum(axis=(-2, -1))  # tr(S_q^-1 S_p)
    mahalanobis = (np.linalg.solve(chol_q, diff[..., None])[..., 0] ** 2).sum(-1)
    logdet_q = 2 * np.log(np.diagonal(chol_q, axis1=-2, axis2=-1)).sum(-1)
    logdet_p = 2 * np.log(np.diagonal(chol_p, axis1=-2, axis2=-1)).sum(-1)
    return 0.5 * (trace_term + mahalanobis - k + logdet_q - logdet_p)


def discrete_kl(p, q) -> float | np.ndarray:
    """KL(p || q) = sum_s p_s log(p_s / q_s) in nats, along the last axis.

    Zero-probability states: a state with p_s = 0 contributes 0 (0 log 0 = 0), whatever
    q_s is; a state with p_s > 0 and q_s = 0 makes the divergence +inf. So for a plug-in
    estimate from samples, put the sampled histogram first (KL(sampled || exact)): states
    never visited cost nothing and the exact distribution is non-zero everywhere.
    """
    p = check.probability_vector("p", p, atol=1e-6)
    q = check.probability_vector("q", q, atol=1e-6)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return terms.sum(axis=-1)


def total_variation(p, q) -> float | np.ndarray:
    """Total variation distance 1/2 sum_s |p_s - q_s|, in [0, 1]; zeros need no special care."""
    p = check.probability_vector("p", p, atol=1e-6)
    q = check.probability_vector("q", q, atol=1e-6)
    if p.shape != q.shape:
        raise ValueError(f"p and q must have the same shape, got {p.shape} and {q.shape}")
    return 0.5 * np.abs(p - q).sum(axis=-1)


def state_histogram(states, n_units: int | None = None) -> np.ndarray:
    """Empirical distribution over the 2^K binary states (unit k = bit k of the index).

    states : (..., K) array of 0/1 values; all leading dimensions are pooled.
    """
    states = np.asarray(states)
    n_units = states.shape[-1] if n_units is None else n_units
    if states.shape[-1] != n_units or not np.all(np.isin(states, (0, 1))):
        raise ValueError(f"states must be 0/1 with last axis of length {n_units}")
    counts = np.bincount(state_index(states.reshape(-1, n_units)), minlength=1 << n_units)
    return counts / counts.sum()


def mean_field_kl_floor(posterior_precision) -> float:
    """The smallest KL(q || p) of any factorised Gaussian q to p = N(m, H^-1).

    KL_mf = 1/2 (sum_i log H_ii - log det H), reached by q_i = N(m_i, 1 / H_ii)
    (MacKay 2003, ch. 33): no circuit with independent output noise can go below it.
    """
    precision = check.positive_definite("posterior_precision", posterior_precision,
                                        np.shape(posterior_precision)[0])
    _, logdet = np.linalg.slogdet(precision)
    return 0.5 * (np.log(np.diag(precision)).sum() - logdet)


def moment_match(samples) -> tuple[np.ndarray, np.ndarray]:
    """Mean (..., K) and unbiased covariance (..., K, K) over the second-to-last axis.

    samples : (..., n_samples, K).
    """
    samples = check.finite_array("samples", samples)
    if samples.ndim < 2 or samples.shape[-2] < 2:
        raise ValueError("samples must have shape (..., n_samples >= 2, K)")
    mean = samples.mean(axis=-2)
    centred = samples - mean[..., None, :]
    cov = np.einsum("...si,...sj->...ij", centred, centred) / (samples.shape[-2] - 1)
    return mean, cov


def mixture_moments(means, covs) -> tuple[np.ndarray, np.ndarray]:
    """Mean (K,) and covariance (K, K) of an equal-weight mixture of distributions with the
    given means (n, K) and covariances (n, K, K): the aggregate posterior over n stimuli,
    mean of the covariances plus the covariance of the means (law of total variance)."""
    means = check.finite_array("means", means, ndim=2)
    covs = check.finite_array("covs", covs, ndim=3)
    if covs.shape != means.shape + (means.shape[1],):
        raise ValueError(f"covs must have shape {means.shape + (means.shape[1],)}, got {covs.shape}")
    centred = means - means.mean(0)
    return means.mean(0), covs.mean(0) + centred.T @ centred / means.shape[0]


def empirical_coverage(samples, z_true, level: float) -> float:
    """Fraction of true latents inside the central ``level`` credible interval of the samples.

    The interval for each (stimulus, latent) is between the (1 - level)/2 and (1 + level)/2
    sample quantiles. For samples from the exact posterior, and z_true drawn from the
    generative model, the expected fraction is ``level``.

    samples : (n, n_samples, K); z_true : (n, K).
    """
    samples = check.finite_array("samples", samples, ndim=3)
    z_true = check.finite_array("z_true", z_true, ndim=2)
    if z_true.shape != (samples.shape[0], samples.shape[2]):
        raise ValueError(f"z_true must have shape {(samples.shape[0], samples.shape[2])}")
    level = _level(level)
    lower, upper = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2], axis=1)
    return float(np.mean((z_true >= lower) & (z_true <= upper)))


def gaussian_coverage(mean, sd, z_true, level: float) -> float:
    """Fraction of true latents inside the central ``level`` interval of N(mean, sd^2), per latent."""
    mean, sd, z_true = (check.finite_array(n, v) for n, v in (("mean", mean), ("sd", sd), ("z_true", z_true)))
    half_width = stats.norm.ppf((1 + _level(level)) / 2) * sd
    return float(np.mean(np.abs(z_true - mean) <= half_width))


def _level(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    return float(level)


def correlation_from_cov(cov) -> np.ndarray:
    """Correlation matrices from covariances (..., K, K)."""
    cov = np.asarray(cov, float)
    sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    return cov / (sd[..., :, None] * sd[..., None, :])


def off_diagonal_correlation(cov_a, cov_b) -> float:
    """Pearson correlation between the off-diagonal correlation coefficients of two covariances.

    Used to compare a circuit's noise correlations with the posterior correlations.
    """
    corr_a, corr_b = correlation_from_cov(cov_a), correlation_from_cov(cov_b)
    upper = np.triu_indices(corr_a.shape[-1], k=1)
    a, b = corr_a[upper], corr_b[upper]
    if a.size < 2:
        raise ValueError("need at least 3 units (2 pairs) to correlate noise correlations")
    return float(np.corrcoef(a, b)[0, 1])


def correlation_agreement(circuit, reference) -> dict[str, float]:
    """How well one set of pairwise correlation coefficients matches another, scale included.

    Pearson r is blind to scale (circuit correlations at a tenth of the reference's still
    score 1), so it comes with the least-squares slope through the origin of ``circuit`` on
    ``reference``, sum(c r) / sum(r^2) (1 when the scale is right), and the RMS difference.

    Parameters
    ----------
    circuit, reference : (n_pairs,) correlation coefficients, n_pairs >= 2.

    Returns
    -------
    dict with ``pearson``, ``slope`` and ``rms``.
    """
    circuit = check.finite_array("circuit", circuit, ndim=1)
    reference = check.finite_array("reference", reference, ndim=1)
    if circuit.shape != reference.shape or circuit.size < 2:
        raise ValueError(f"circuit and reference must be matching (n_pairs,) arrays with n_pairs >= 2, "
                         f"got {circuit.shape} and {reference.shape}")
    if not np.any(reference):
        raise ValueError("reference correlations are all zero: no slope to measure")
    return {"pearson": float(np.corrcoef(circuit, reference)[0, 1]),
            "slope": float(circuit @ reference / (reference @ reference)),
            "rms": float(np.sqrt(np.mean((circuit - reference) ** 2)))}


def compare_to_gaussian(samples, posterior_mean, posterior_cov, z_true=None) -> dict[str, float]:
    """Score response samples against an exact (or moment-matched) Gaussian posterior.

    Parameters
    ----------
    samples : (n_stimuli, n_samples, K) responses, one row of samples per stimulus.
    posterior_mean : (n_stimuli, K) exact posterior means.
    posterior_cov : (K, K) or (n_stimuli, K, K) exact posterior covariances.
    z_true : (n_stimuli, K), optional true latents, for calibration.

    Returns
    -------
    dict with, averaged over stimuli:
      ``mean_error_sd``       mean |sample mean - posterior mean| / posterior sd;
      ``cov_relative_error``  mean ||C_hat - C||_F / ||C||_F;
      ``variance_ratio``      mean of sample variance / posterior variance;
      ``kl_moment_matched``   mean KL(N(sample mean, C_hat) || exact posterior), nats;
      ``noise_correlation_match`` correlation of the stimulus-averaged response noise
                              correlations with the posterior correlations (K >= 3);
      ``noise_correlation_slope``, ``noise_correlation_rms`` their slope through the origin
                              and RMS difference (``correlation_agreement``; K >= 3);
      ``coverage_50``, ``coverage_90`` (with z_true) fraction of true latents inside
                              the samples' central 50% / 90% intervals.
    The moment-matched KL is biased upwards by about (K + K(K+1)/2) / (2 n_samples).
    """
    samples = check.finite_array("samples", samples, ndim=3)
    n_stim, _, k = samples.shape
    mean = check.finite_array("posterior_mean", posterior_mean, ndim=2)
    if mean.shape != (n_stim, k):
        raise ValueError(f"posterior_mean must have shape {(n_stim, k)}, got {mean.shape}")
    cov = np.broadcast_to(np.asarray(posterior_cov, float), (n_stim, k, k))
    sample_mean, sample_cov = moment_match(samples)
    variance = np.diagonal(cov, axis1=-2, axis2=-1)
    metrics = {
        "mean_error_sd": float(np.mean(np.abs(sample_mean - mean) / np.sqrt(variance))),
        "cov_relative_error": float(np.mean(np.linalg.norm(sample_cov - cov, axis=(-2, -1))
                                            / np.linalg.norm(cov, axis=(-2, -1)))),
        "variance_ratio": float(np.mean(np.diagonal(sample_cov, axis1=-2, axis2=-1) / variance)),
        "kl_moment_matched": float(np.mean(gaussian_kl(sample_mean, sample_cov, mean, cov))),
    }
    if k >= 3:
        upper = np.triu_indices(k, 1)
        agreement = correlation_agreement(correlation_from_cov(sample_cov).mean(0)[upper],
                                          correlation_from_cov(cov).mean(0)[upper])
        metrics["noise_correlation_match"] = agreement["pearson"]
        metrics["noise_correlation_slope"] = agreement["slope"]
        metrics["noise_correlation_rms"] = agreement["rms"]
    if z_true is not None:
        metrics["coverage_50"] = empirical_coverage(samples, z_true, 0.5)
        metrics["coverage_90"] = empirical_coverage(samples, z_true, 0.9)
    return metrics
