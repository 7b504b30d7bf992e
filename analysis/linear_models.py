"""Linear-Gaussian models learned from data, and the correlation structure of their posteriors.

- ``correlated_prior_cov``: a random prior covariance with a set correlation scale (a task
  where the prior correlates latents, so signal and noise correlations need not have
  opposite signs).
- ``ml_marginal_cov``: the maximum-likelihood marginal covariance of a zero-mean
  linear-Gaussian model with K latents, isotropic noise (probabilistic PCA, closed form;
  Tipping & Bishop 1999) or diagonal noise (factor analysis).
- ``heldout_loglik``: the average log-likelihood of held-out data under N(0, C), in nats per
  input dimension.
- ``signal_noise_relation``: the off-diagonal signal and noise correlations of a
  linear-Gaussian posterior and the slope between them.

By the law of total covariance, the prior covariance splits into the average posterior
covariance and the covariance of the posterior mean across stimuli:
C = E_x[Cov(z | x)] + Cov_x(E[z | x]). In a linear-Gaussian model Cov(z | x) = H^-1 for
every x, so the signal covariance is C - H^-1. With an identity prior the off-diagonal
signal covariances are exactly minus the noise covariances (opposite signs, as noted by
Aitchison, Hennequin & Lengyel 2018); a correlated prior adds C's off-diagonal terms to
the signal covariance and can turn the relation positive, as recorded in cortex.
"""

from __future__ import annotations

import numpy as np

from analysis import _validation as check
from analysis.compare import correlation_from_cov

__all__ = ["correlated_prior_cov", "ml_marginal_cov", "factor_analysis_cov", "heldout_loglik", "gaussian_loglik",
           "signal_noise_relation", "PRIORS"]

PRIORS = ("identity", "correlated")


def correlated_prior_cov(n_latent: int, correlation: float, rng: np.random.Generator) -> np.ndarray:
    """A random correlation matrix R whose off-diagonal entries scale with ``correlation``.

    R = normalise((1 - rho) I + rho G G^T / K), G (K, K) with i.i.d. N(0, 1) entries, and
    normalise rescales to a unit diagonal. rho = 0 gives the identity; as rho -> 1 the
    correlations approach those of the Wishart matrix G G^T / K (typical |r| ~ 1 / sqrt(2)).

    Parameters
    ----------
    n_latent : K >= 1.
    correlation : rho in [0, 1).
    rng : numpy Generator.
    """
    n_latent = check.count("n_latent", n_latent)
    correlation = float(correlation)
    if not 0.0 <= correlation < 1.0:
        raise ValueError(f"prior_correlation must lie in [0, 1), got {correlation!r}")
    gram = rng.standard_normal((n_latent, n_latent))
    cov = (1 - correlation) * np.eye(n_latent) + correlation * gram @ gram.T / n_latent
    sd = np.sqrt(np.diag(cov))
    return cov / np.outer(sd, sd)


def gaussian_loglik(x, cov) -> np.ndarray:
    """log N(x; 0, cov) in nats for each row of x (n, D)."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    chol = np.linalg.cholesky(np.asarray(cov, dtype=float))
    whitened = np.linalg.solve(chol, x.T)
    logdet = 2 * np.log(np.diag(chol)).sum()
    return -0.5 * (np.sum(whitened**2, axis=0) + logdet + x.shape[1] * np.log(2 * np.pi))


def heldout_loglik(x, cov) -> float:
    """Mean log-likelihood of held-out rows x (n, D) under N(0, cov), nats per input dimension."""
    x = check.finite_array("x", x, ndim=2)
    return float(np.mean(gaussian_loglik(x, cov)) / x.shape[1])


def ml_marginal_cov(data, n_latent: int, noise: str = "isotropic") -> np.ndarray:
    """Maximum-likelihood marginal covariance A A^T + Psi of a zero-mean K-latent model, (D, D).

    noise ``"isotropic"`` (Psi = s^2 I): probabilistic PCA in closed form (Tipping & Bishop
    1999): with the eigenvalues l_1 >= ... >= l_D of S = X^T X / N (uncentred: the model has
    zero mean), s^2 = mean(l_{K+1..D}) and A A^T = U_K (L_K - s^2 I) U_K^T.
    noise ``"diagonal"`` (Psi diagonal): factor analysis (``factor_analysis_cov``).
    With K >= D any covariance is reachable and the ML covariance is S itself.
    """
    data = check.finite_array("data", data, ndim=2)
    n_latent = check.count("n_latent", n_latent)
    second_moment = data.T @ data / data.shape[0]
    n_obs = data.shape[1]
    if n_latent >= n_obs:
        return second_moment
    if noise == "isotropic":
        eigenvalues, eigenvectors = np.linalg.eigh(second_moment)
        eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
        noise_var = eigenvalues[n_latent:].mean()
        top = eigenvectors[:, :n_latent]
        return top @ np.diag(eigenvalues[:n_latent] - noise_var) @ top.T + noise_var * np.eye(n_obs)
    if noise == "diagonal":
        return factor_analysis_cov(second_moment, n_latent)
    raise ValueError(f"noise must be 'isotropic' or 'diagonal', got {noise!r}")


def factor_analysis_cov(second_moment, n_latent: int, tol: float = 1e-12, max_iter: int = 100_000) -> np.ndarray:
    """Maximum-likelihood covariance W W^T + Psi (Psi diagonal) of a zero-mean factor-analysis
    model with K factors, from the data's second moment S (D, D) alone.

    The likelihood depends on the data only through S, so each iteration costs one D x D
    eigendecomposition instead of a pass over the data. The iteration is the one scikit-learn's
    FactorAnalysis uses (Barber 2012, Bayesian Reasoning and Machine Learning, ch. 21): with
    Psi fixed, the ML loadings are W = Psi^1/2 U_K max(L_K - 1, 0)^1/2 from the eigenpairs
    (L, U) of Psi^-1/2 S Psi^-1/2; then Psi = diag(S - W W^T). It stops when the average
    log-likelihood changes by less than ``tol`` nats per sample.
    """
    second_moment = check.finite_array("second_moment", second_moment, ndim=2)
    n_latent = check.count("n_latent", n_latent)
    n_obs = second_moment.shape[0]
    if second_moment.shape != (n_obs, n_obs):
        raise ValueError(f"second_moment must be square, got shape {second_moment.shape}")
    variances = np.diag(second_moment).copy()
    if np.any(variances <= 0):
        raise ValueError("second_moment must have a positive diagonal")
    floor = 1e-12 * variances  # keeps Psi positive when a variable is explained exactly (a Heywood case)
    psi, previous = variances.copy(), -np.inf
    for _ in range(max_iter):
        scale = 1.0 / np.sqrt(psi)
        eigenvalues, eigenvectors = np.linalg.eigh(scale[:, None] * second_moment * scale[None, :])
        top, vectors = eigenvalues[-n_latent:], eigenvectors[:, -n_latent:]
        loadings = np.sqrt(psi)[:, None] * vectors * np.sqrt(np.maximum(top - 1.0, 0.0))
        # Average log-likelihood at (W, Psi) from the scaled eigenvalues: log det C = sum log Psi +
        # sum log max(L_K, 1), tr(C^-1 S) = sum L - sum max(L_K - 1, 0).
        loglik = -0.5 * (n_obs * np.log(2 * np.pi) + np.sum(np.log(psi)) + np.sum(np.log(np.maximum(top, 1.0)))
                         + np.sum(eigenvalues) - np.sum(np.maximum(top - 1.0, 0.0)))
        psi = np.maximum(variances - np.sum(loadings**2, axis=1), floor)
        if loglik - previous < tol:
            break
        previous = loglik
    return loadings @ loadings.T + np.diag(psi)


def signal_noise_relation(prior_cov, posterior_cov) -> dict[str, np.ndarray | float]:
    """Signal and noise correlations of a linear-Gaussian posterior, pair by pair.

    noise covariance = posterior covariance H^-1; signal covariance = prior_cov - H^-1 (the
    covariance of the posterior mean over stimuli drawn from the model; module docstring).

    Returns ``signal`` and ``noise`` (the off-diagonal correlations, upper triangle), the
    ``slope`` of signal on noise correlations (least squares through the origin) and the
    fraction of pairs with the same sign, ``same_sign_fraction``.
    """
    prior_cov = np.asarray(prior_cov, dtype=float)
    posterior_cov = np.asarray(posterior_cov, dtype=float)
    signal_cov = prior_cov - posterior_cov
    upper = np.triu_indices(prior_cov.shape[0], k=1)
    signal = correlation_from_cov(signal_cov)[upper]
    noise = correlation_from_cov(posterior_cov)[upper]
    return {"signal": signal, "noise": noise, "slope": float(signal @ noise / (noise @ noise)),
            "same_sign_fraction": float(np.mean(np.sign(signal) == np.sign(noise)))}
