"""Linear-Gaussian models learned from data, and the correlation structure of their posteriors.

- ``correlated_prior_cov``: a random prior covariance with a set correlation scale (a task
  where the prior correlates latents, so signal and noise correlations need not have
  opposite signs).
- ``ml_marginal_cov``: the maximum-likelihood marginal covariance of a zero-mean
  linear-Gaussian model with K latents, isotropic noise (probabilistic PCA, closed form;
  Tipping & Bishop 1999) or diagonal noise (factor analysis, scikit-learn's EM).
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

__all__ = ["correlated_prior_cov", "ml_marginal_cov", "heldout_loglik", "gaussian_loglik",
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


def ml_marginal_cov(data, n_latent: int, noise: str = "isotropic", seed: int = 0) -> np.ndarray:
    """Maximum-likelihood marginal covariance A A^T + Psi of a zero-mean K-latent model, (D, D).

    noise ``"isotropic"`` (Psi = s^2 I): probabilistic PCA in closed form (Tipping & Bishop
    1999): with the eigenvalues l_1 >= ... >= l_D of S = X^T X / N (uncentred: the model has
    zero mean), s^2 = mean(l_{K+1..D}) and A A^T = U_K (L_K - s^2 I) U_K^T.
    noise ``"diagonal"`` (Psi diagonal): factor analysis fitted by scikit-learn's EM (which
    also fits a mean; for zero-mean data the difference is of order D / N).
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
        from sklearn.decomposition import FactorAnalysis

        return FactorAnalysis(n_components=n_latent, random_state=seed, tol=1e-6, max_iter=5000).fit(
            data).get_covariance()
    raise ValueError(f"noise must be 'isotropic' or 'diagonal', got {noise!r}")


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
