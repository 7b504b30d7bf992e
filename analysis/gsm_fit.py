"""Maximum-likelihood Gaussian scale mixtures for data such as whitened image patches.

Model (``analysis.generative.GaussianScaleMixture``; Wainwright & Simoncelli 2000):
x = c A z + sigma eps, z ~ N(0, C), eps ~ N(0, I), c ~ Gamma(shape, scale). The filters A and
the contrast prior are given; the prior covariance C and the noise variance sigma^2 are fitted
by EM (Dempster, Laird & Rubin 1977) with the contrast integrated on a fixed quadrature: J
nodes at the prior's (j + 1/2) / J quantiles, each of weight 1 / J. Given c the model is
linear-Gaussian, so the E-step is exact at every node.

Every node shares one simultaneous diagonalisation: with C = L L^T and
L^T A^T A L / sigma^2 = V diag(lam) V^T, T = L V and w(x) = T^T A^T x / sigma^2,
  log N(x; 0, c^2 A C A^T + sigma^2 I) = -(D log 2 pi + D log sigma^2 + sum log(1 + c^2 lam)
                                           + |x|^2 / sigma^2 - c^2 sum w^2 / (1 + c^2 lam)) / 2,
  p(z | x, c) = N(c T (w / (1 + c^2 lam)), T diag(1 / (1 + c^2 lam)) T^T),
so an iteration costs O(N K J) plus one (K x N)(N x K) product per node.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special, stats

from analysis import _validation as check
from analysis.generative import GaussianScaleMixture


def contrast_nodes(shape: float, scale: float, n_nodes: int) -> np.ndarray:
    """The Gamma(shape, scale) prior's (j + 1/2) / J quantiles, j = 0..J-1 (equal weights 1 / J)."""
    shape, scale = float(check.positive("contrast_shape", shape)), float(check.positive("contrast_scale", scale))
    n_nodes = check.count("n_nodes", n_nodes, 2)
    return stats.gamma.ppf((np.arange(n_nodes) + 0.5) / n_nodes, shape, scale=scale)


@dataclass(frozen=True)
class _Basis:
    """The simultaneous diagonalisation of C^-1 and A^T A / sigma^2 (module docstring)."""

    transform: np.ndarray  # T, (K, K)
    eigenvalues: np.ndarray  # lam, (K,)

    @classmethod
    def of(cls, A, prior_cov, noise_var):
        chol = np.linalg.cholesky(prior_cov)
        eigenvalues, vectors = np.linalg.eigh(chol.T @ A.T @ A @ chol / noise_var)
        return cls(chol @ vectors, np.clip(eigenvalues, 0.0, None))


def _node_log_likelihoods(x, A, basis: _Basis, noise_var: float, nodes):
    """log N(x_n; 0, c_j^2 A C A^T + sigma^2 I), (N, J), and w (N, K)."""
    n_obs = A.shape[0]
    w = x @ A @ basis.transform / noise_var
    c2 = nodes**2
    denominators = 1.0 + c2[:, None] * basis.eigenvalues  # (J, K)
    quadratic = (x**2).sum(1)[:, None] / noise_var - (w**2) @ (1.0 / denominators).T * c2
    log_det = n_obs * np.log(noise_var) + np.log(denominators).sum(1)
    return -0.5 * (n_obs * np.log(2 * np.pi) + log_det + quadratic), w, denominators


def gsm_log_likelihood(x, model: GaussianScaleMixture, n_nodes: int = 2048) -> np.ndarray:
    """log p(x_n) (nats) of each row under ``model`` (isotropic noise), with the contrast on
    ``n_nodes`` quantile nodes of its prior. The default agrees with the adaptive quadrature of
    ``GaussianScaleMixture.posterior`` to 1e-4 nats per row on the tests' models; 32 nodes
    can be 0.05 nats per dimension low on whitened image patches, whose fitted noise is small
    and whose contrast posterior is therefore narrow."""
    x = check.observations("x", x, model.n_obs)
    noise_var = _isotropic_noise_var(model)
    nodes = contrast_nodes(model.contrast_shape, model.contrast_scale, n_nodes)
    log_node, _, _ = _node_log_likelihoods(x, model.A, _Basis.of(model.A, model.prior_cov, noise_var), noise_var,
                                           nodes)
    return special.logsumexp(log_node, axis=1) - np.log(n_nodes)


def gaussian_log_likelihood(x, cov) -> np.ndarray:
    """log N(x_n; 0, cov) (nats) of each row: the Gaussian with the same covariance, the
    reference a GSM must beat on heavy-tailed data."""
    x = np.asarray(x, dtype=float)
    return stats.multivariate_normal(np.zeros(x.shape[1]), cov).logpdf(x)


def _isotropic_noise_var(model: GaussianScaleMixture) -> float:
    noise_std = np.broadcast_to(model.noise_std, (model.n_obs,))
    if not np.allclose(noise_std, noise_std[0]):
        raise ValueError("the fit and its likelihood take isotropic noise (one noise_std)")
    return float(noise_std[0] ** 2)


@dataclass(frozen=True)
class GSMFit:
    """A fitted GSM and the mean log-likelihood (nats per data point) before each iteration's
    update and after the last (``log_likelihood[-1]``, the fitted model's)."""

    model: GaussianScaleMixture
    log_likelihood: np.ndarray
    converged: bool


def fit_gsm(x, A, contrast_shape: float = 2.0, contrast_scale: float = 0.5, n_nodes: int = 64,
            max_iterations: int = 200, tolerance: float = 1e-6, prior_cov=None, noise_var=None,
            fit_noise: bool = True) -> GSMFit:
    """ML prior covariance C and isotropic noise variance sigma^2 of a GSM with filters ``A``
    (D, K) and a fixed Gamma contrast prior, by EM on the rows of ``x`` (N, D).
    ``fit_noise=False`` keeps sigma^2 at ``noise_var`` (required then) and fits C given it.

    The EM is exact for the contrast on ``n_nodes`` quantile nodes (a finite scale mixture);
    evaluate the fitted model with ``gsm_log_likelihood``'s finer default. Stops when an
    iteration raises the mean log-likelihood by less than ``tolerance`` nats per data point.
    With complete filters (K = D) on image patches the ML noise variance tends to 0 and EM
    slows as it does, so ``max_iterations`` usually ends the fit there. Starts from
    ``prior_cov`` (default I) and ``noise_var`` (default a tenth of the data's mean variance).
    The contrast prior's scale and C trade off (c A z), so the prior is fixed, not fitted.
    """
    x = np.asarray(x, dtype=float)
    A = np.asarray(A, dtype=float)
    if x.ndim != 2 or A.ndim != 2 or A.shape[0] != x.shape[1]:
        raise ValueError(f"x must be (N, D) and A (D, K) with the same D, got {x.shape} and {A.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or inf")
    n_data, n_obs = x.shape
    n_latent = A.shape[1]
    nodes = contrast_nodes(contrast_shape, contrast_scale, n_nodes)
    check.count("max_iterations", max_iterations, 1)
    prior_cov = np.eye(n_latent) if prior_cov is None else check.positive_definite("prior_cov", prior_cov, n_latent)
    if not fit_noise and noise_var is None:
        raise ValueError("noise_var must be given when fit_noise is False")
    noise_var = 0.1 * float(x.var(0).mean()) if noise_var is None else float(check.positive("noise_var", noise_var))
    sq_norm = (x**2).sum(1)
    history, converged = [], False
    for _ in range(max_iterations):
        basis = _Basis.of(A, prior_cov, noise_var)
        log_node, w, denominators = _node_log_likelihoods(x, A, basis, noise_var, nodes)
        log_marginal = special.logsumexp(log_node, axis=1) - np.log(n_nodes)
        history.append(float(log_marginal.mean()))
        if len(history) > 1 and history[-1] - history[-2] < tolerance:
            converged = True
            break
        responsibility = np.exp(log_node - np.log(n_nodes) - log_marginal[:, None])  # (N, J)
        w_squared = w**2
        # Expected sufficient statistics in the eigenbasis, node by node.
        second_moment = np.zeros((n_latent, n_latent))  # sum_n E[nu nu^T | x_n], nu = T^-1 z
        weighted_second_moment = np.zeros((n_latent, n_latent))  # the same weighted by c^2
        cross = 0.0  # sum_n E[c x^T A z | x_n]
        for j, c in enumerate(nodes):
            shrink = 1.0 / denominators[j]
            total = responsibility[:, j].sum()
            scaled = np.sqrt(responsibility[:, j])[:, None] * (c * w * shrink)  # sqrt(r) E[nu | x, c]
            node_second = scaled.T @ scaled + total * np.diag(shrink)
            second_moment += node_second
            weighted_second_moment += c**2 * node_second
            cross += c**2 * noise_var * (responsibility[:, j] @ (w_squared @ shrink))
        T = basis.transform
        prior_cov = T @ (second_moment / n_data) @ T.T
        prior_cov = 0.5 * (prior_cov + prior_cov.T)
        gram = T.T @ A.T @ A @ T
        if fit_noise:
            expected_residual = sq_norm.sum() - 2.0 * cross + np.sum(gram * weighted_second_moment)
            noise_var = float(expected_residual / (n_data * n_obs))
    model = GaussianScaleMixture(A, prior_cov, np.sqrt(noise_var), contrast_shape, contrast_scale)
    if not converged:
        history.append(float(gsm_log_likelihood(x, model, len(nodes)).mean()))
    return GSMFit(model, np.array(history), converged)


def ica_filters(whitened, seed: int, max_iter: int = 1000, tolerance: float = 1e-4) -> np.ndarray:
    """A complete set of filters A (D, D) for a GSM, learned by FastICA (Hyvarinen & Oja 2000;
    scikit-learn) on already whitened data (N, D): the mixing matrix, columns scaled to unit
    norm (the GSM's C takes up their scale). On natural-image patches these are localised,
    oriented, Gabor-like (Bell & Sejnowski 1997; van Hateren & van der Schaaf 1998)."""
    from sklearn.decomposition import FastICA

    whitened = np.asarray(whitened, dtype=float)
    if whitened.ndim != 2 or not np.all(np.isfinite(whitened)):
        raise ValueError("whitened must be a finite (N, D) array")
    ica = FastICA(whiten=False, random_state=seed, max_iter=max_iter, tol=tolerance)
    ica.fit(whitened)
    mixing = ica.mixing_
    return mixing / np.linalg.norm(mixing, axis=0)
