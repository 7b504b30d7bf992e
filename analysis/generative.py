"""Generative models with exact posteriors: the ground truth every circuit is scored against.

Each model has ``sample(n, rng) -> (z, x)`` (latents and observations as NumPy arrays) and
``posterior(x)``, the exact posterior for every row of ``x``. Latents and observations are
dimensionless model units; where a circuit represents a latent by a rate, the rate is read
in the same units.

Models
------
LinearGaussian
    z ~ N(0, C), x = A z + noise. Posterior in closed form.
GaussianScaleMixture
    x = c A z + noise, c ~ Gamma (Wainwright & Simoncelli 2000; the V1 model of Orban,
    Berkes, Fiser & Lengyel 2016). Posterior moments by adaptive 1-D quadrature over c.
SparseCoding
    x = A z + noise with independent Laplace or Student-t latents (Olshausen & Field 1996).
    Non-conjugate: the reference posterior is NUTS (``analysis.nuts``), exact by 1-D
    quadrature when A has orthonormal columns.
GaussianMixture
    Responsibilities p(k | x); with a linear-Gaussian observation model, the posterior over
    the continuous latent is itself a Gaussian mixture.
BoltzmannMachine
    Binary units; exact distribution by enumeration, exact conditionals, Gibbs reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import integrate, special, stats

from analysis import _validation as check

__all__ = [
    "GaussianPosterior",
    "LinearGaussian",
    "GSMPosterior",
    "GaussianScaleMixture",
    "SparseCoding",
    "SPARSE_PRIORS",
    "MixturePosterior",
    "GaussianMixture",
    "BoltzmannMachine",
    "MAX_ENUMERATION_UNITS",
]

#: Largest number of binary units whose 2**K states are enumerated (2**24 float64 = 128 MiB).
MAX_ENUMERATION_UNITS = 24
#: Largest number of units for which the dense 2**K x 2**K Gibbs transition matrix is built.
MAX_TRANSITION_MATRIX_UNITS = 10


def _noise_std_vector(noise_std, n_obs: int) -> np.ndarray:
    return check.positive("noise_std", noise_std, shape=(n_obs,))


def _loading_matrix(A) -> np.ndarray:
    A = check.finite_array("A", A, ndim=2)
    if min(A.shape) < 1:
        raise ValueError(f"A must be non-empty, got shape {A.shape}")
    return A


class _Loadings:
    """Shapes of a model with loading weights ``A`` (D, K)."""

    @property
    def n_obs(self) -> int:
        """D, the number of observed dimensions."""
        return self.A.shape[0]

    @property
    def n_latent(self) -> int:
        """K, the number of latents."""
        return self.A.shape[1]


# ----------------------------------------------------------------------------------------
# Gaussian posterior container
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GaussianPosterior:
    """A Gaussian posterior for each of n observations.

    Attributes
    ----------
    mean : ndarray, shape (n, K)
        Posterior means, in latent units.
    cov : ndarray, shape (K, K) or (n, K, K)
        Posterior covariance; shared by all rows when 2-D (as in the linear-Gaussian model).
    """

    mean: np.ndarray
    cov: np.ndarray

    def __post_init__(self):
        mean = np.atleast_2d(np.asarray(self.mean, dtype=float))
        cov = np.asarray(self.cov, dtype=float)
        if cov.shape[-2:] != (mean.shape[1],) * 2 or cov.ndim not in (2, 3):
            raise ValueError(f"cov must have shape (K, K) or (n, K, K) with K = {mean.shape[1]}")
        if cov.ndim == 3 and cov.shape[0] != mean.shape[0]:
            raise ValueError("cov has a different number of rows than mean")
        object.__setattr__(self, "mean", mean)
        object.__setattr__(self, "cov", cov)

    @property
    def n_latent(self) -> int:
        return self.mean.shape[1]

    @property
    def full_cov(self) -> np.ndarray:
        """Covariance for every row, shape (n, K, K)."""
        return np.broadcast_to(self.cov, (self.mean.shape[0],) + self.cov.shape[-2:])

    @property
    def precision(self) -> np.ndarray:
        """Inverse covariance, same shape as ``cov``."""
        return np.linalg.inv(self.cov)

    @property
    def sd(self) -> np.ndarray:
        """Marginal posterior standard deviations, shape (n, K)."""
        return np.sqrt(np.diagonal(self.full_cov, axis1=-2, axis2=-1))

    def sample(self, n_samples: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n_samples`` posterior samples per row: shape (n, n_samples, K)."""
        n_samples = check.count("n_samples", n_samples)
        chol = np.linalg.cholesky(self.full_cov)  # (n, K, K)
        eps = rng.standard_normal((self.mean.shape[0], n_samples, self.n_latent))
        return self.mean[:, None, :] + np.einsum("nij,nsj->nsi", chol, eps)


# ----------------------------------------------------------------------------------------
# Linear Gaussian
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LinearGaussian(_Loadings):
    """Linear-Gaussian latent variable model (factor analysis with a general prior).

    z ~ N(0, prior_cov), x = A z + noise_std * eps, eps ~ N(0, I).

    Parameters
    ----------
    A : array_like, shape (D, K)
        Loading (generative) weights from K latents to D observations.
    noise_std : float or array_like, shape (D,)
        Observation noise standard deviation, > 0, in observation units.
    prior_cov : array_like, shape (K, K), optional
        Prior covariance of z, symmetric positive definite; identity by default.

    The posterior is N(mu(x), H^-1) with precision H = C^-1 + A^T S^-1 A and mean
    mu(x) = H^-1 A^T S^-1 x, S = diag(noise_std^2) (Bishop 2006, eq. 2.116).
    """

    A: np.ndarray
    noise_std: np.ndarray | float
    prior_cov: np.ndarray | None = None

    def __post_init__(self):
        A = _loading_matrix(self.A)
        n_obs, n_latent = A.shape
        noise_std = _noise_std_vector(self.noise_std, n_obs)
        prior_cov = np.eye(n_latent) if self.prior_cov is None else self.prior_cov
        prior_cov = check.positive_definite("prior_cov", prior_cov, n_latent)
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "noise_std", noise_std)
        object.__setattr__(self, "prior_cov", prior_cov)

    @property
    def prior_precision(self) -> np.ndarray:
        return np.linalg.inv(self.prior_cov)

    @property
    def posterior_precision(self) -> np.ndarray:
        """H = C^-1 + A^T diag(noise_std^-2) A, shape (K, K); the same for every x."""
        weighted = self.A / self.noise_std[:, None] ** 2
        return self.prior_precision + self.A.T @ weighted

    @property
    def posterior_cov(self) -> np.ndarray:
        return np.linalg.inv(self.posterior_precision)

    @property
    def marginal_cov(self) -> np.ndarray:
        """Covariance of x: A C A^T + diag(noise_std^2), shape (D, D)."""
        return self.A @ self.prior_cov @ self.A.T + np.diag(self.noise_std**2)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw n joint samples: z of shape (n, K) and x of shape (n, D)."""
        n = check.count("n", n)
        z = rng.multivariate_normal(np.zeros(self.n_latent), self.prior_cov, size=n, method="cholesky")
        x = z @ self.A.T + self.noise_std * rng.standard_normal((n, self.n_obs))
        return z, x

    def posterior(self, x) -> GaussianPosterior:
        """Exact posterior p(z | x) for each row of x (shape (n, D) or (D,))."""
        x = check.observations("x", x, self.n_obs)
        cov = self.posterior_cov
        mean = (x / self.noise_std**2) @ self.A @ cov.T
        return GaussianPosterior(mean=mean, cov=cov)

    def log_marginal(self, x) -> np.ndarray:
        """log p(x) in nats for each row, shape (n,)."""
        x = check.observations("x", x, self.n_obs)
        return stats.multivariate_normal(np.zeros(self.n_obs), self.marginal_cov).logpdf(x).reshape(-1)


# ----------------------------------------------------------------------------------------
# Gaussian scale mixture
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class GSMPosterior:
    """Exact posterior moments of a Gaussian scale mixture for n observations.

    The posterior over z is a continuous mixture of Gaussians over the contrast c; ``mean``
    and ``cov`` are its first two moments (not a Gaussian approximation's parameters).

    Attributes
    ----------
    mean : (n, K) posterior mean of z.
    cov : (n, K, K) posterior covariance of z.
    contrast_mean, contrast_sd : (n,) posterior mean and sd of c.
    log_evidence : (n,) log p(x), nats.
    mean_error, cov_error : (n,) quadrature error estimates (absolute, max over entries).
    """

    mean: np.ndarray
    cov: np.ndarray
    contrast_mean: np.ndarray
    contrast_sd: np.ndarray
    log_evidence: np.ndarray
    mean_error: np.ndarray
    cov_error: np.ndarray

    @property
    def sd(self) -> np.ndarray:
        return np.sqrt(np.diagonal(self.cov, axis1=-2, axis2=-1))

    @property
    def precision(self) -> np.ndarray:
        return np.linalg.inv(self.cov)


@dataclass(frozen=True, eq=False)
class GaussianScaleMixture(_Loadings):
    """Gaussian scale mixture: x = c A z + noise_std * eps, z ~ N(0, C), c ~ Gamma.

    The generative model of V1 responses in Orban, Berkes, Fiser & Lengyel (2016):
    z are the activations of oriented filters (columns of A), c a global contrast.

    Parameters
    ----------
    A : (D, K) loading weights.
    prior_cov : (K, K) prior covariance of z, symmetric positive definite.
    noise_std : float or (D,), > 0, observation noise sd.
    contrast_shape, contrast_scale : float, > 0
        Shape k and scale theta of the Gamma prior on c (mean k * theta).

    Given c the model is linear-Gaussian, so with S = diag(noise_std^2)
    p(z | x, c) = N(mu_c, Sigma_c), Sigma_c = (C^-1 + c^2 A^T S^-1 A)^-1,
    mu_c = c Sigma_c A^T S^-1 x, and p(c | x) is proportional to p(c) N(x; 0, c^2 A C A^T + S).
    The posterior moments of z are integrals over c, computed on a log-c axis by adaptive
    Gauss-Kronrod quadrature (``scipy.integrate.quad_vec``); a simultaneous
    diagonalisation of C^-1 and A^T S^-1 A makes each integrand evaluation O(K^2).
    """

    A: np.ndarray
    prior_cov: np.ndarray
    noise_std: np.ndarray | float
    contrast_shape: float
    contrast_scale: float
    _basis: np.ndarray = field(init=False, repr=False)
    _eigvals: np.ndarray = field(init=False, repr=False)
    _project: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        A = _loading_matrix(self.A)
        n_obs, n_latent = A.shape
        prior_cov = check.positive_definite("prior_cov", self.prior_cov, n_latent)
        noise_std = _noise_std_vector(self.noise_std, n_obs)
        shape = float(check.positive("contrast_shape", self.contrast_shape))
        scale = float(check.positive("contrast_scale", self.contrast_scale))
        for name, value in (("A", A), ("prior_cov", prior_cov), ("noise_std", noise_std),
                            ("contrast_shape", shape), ("contrast_scale", scale)):
            object.__setattr__(self, name, value)
        # Whitened loadings A~ = S^-1/2 A; with C = L L^T and L^T A~^T A~ L = V diag(lam) V^T,
        # Sigma_c = T diag(1 / (1 + c^2 lam)) T^T where T = L V.
        chol = np.linalg.cholesky(prior_cov)
        whitened = A / noise_std[:, None]
        eigvals, eigvecs = np.linalg.eigh(chol.T @ whitened.T @ whitened @ chol)
        object.__setattr__(self, "_eigvals", np.clip(eigvals, 0.0, None))
        object.__setattr__(self, "_basis", chol @ eigvecs)
        # w(x) = V^T L^T A~^T (x / noise_std): the data in the eigenbasis.
        object.__setattr__(self, "_project", eigvecs.T @ chol.T @ whitened.T)

    def sample(self, n: int, rng: np.random.Generator, return_contrast: bool = False):
        """Draw n joint samples (z (n, K), x (n, D)); also c (n,) if ``return_contrast``."""
        n = check.count("n", n)
        contrast = rng.gamma(self.contrast_shape, self.contrast_scale, size=n)
        z = rng.multivariate_normal(np.zeros(self.n_latent), self.prior_cov, size=n, method="cholesky")
        x = contrast[:, None] * (z @ self.A.T) + self.noise_std * rng.standard_normal((n, self.n_obs))
        return (z, x, contrast) if return_contrast else (z, x)

    def conditional_posterior(self, x, contrast: float) -> GaussianPosterior:
        """p(z | x, c) for a known contrast c (the linear-Gaussian posterior at gain c)."""
        x = check.observations("x", x, self.n_obs)
        contrast = float(check.positive("contrast", contrast))
        return LinearGaussian(contrast * self.A, self.noise_std, self.prior_cov).posterior(x)

    # -- log densities on the log-contrast axis ------------------------------------------
    def _log_joint_contrast(self, log_contrast: np.ndarray, projected: np.ndarray, sq_norm: float):
        """log p(x, c) + log c (the density of u = log c), for an array of u."""
        c2 = np.exp(2.0 * log_contrast)[..., None]
        denominators = 1.0 + c2 * self._eigvals
        quad = sq_norm - (c2 * projected**2 / denominators).sum(-1)
        log_lik = -0.5 * (self.n_obs * np.log(2 * np.pi) + 2 * np.log(self.noise_std).sum()
                          + np.log(denominators).sum(-1) + quad)
        log_prior = stats.gamma.logpdf(np.exp(log_contrast), self.contrast_shape, scale=self.contrast_scale)
        return log_lik + log_prior + log_contrast

    def _integration_range(self, projected, sq_norm):
        """A log-contrast interval holding all but a negligible (e^-60) share of the mass.

        Starts from the prior's 1e-14 quantiles widened by e^8 either way, then zooms in on
        the region above (peak - 60) until it spans many grid steps, so that a posterior
        narrower than the first grid (a near-delta contrast prior) is still resolved.
        """
        lo = np.log(stats.gamma.ppf(1e-14, self.contrast_shape, scale=self.contrast_scale)) - 8.0
        hi = np.log(stats.gamma.isf(1e-14, self.contrast_shape, scale=self.contrast_scale)) + 8.0
        for _ in range(6):
            grid = np.linspace(lo, hi, 1001)
            log_density = self._log_joint_contrast(grid, projected, sq_norm)
            peak = np.max(log_density)
            inside = np.flatnonzero(log_density > peak - 60.0)
            lo, hi = grid[max(inside[0] - 1, 0)], grid[min(inside[-1] + 1, grid.size - 1)]
            if inside.size > 50:
                break
        return lo, hi, peak

    def log_contrast_support(self, x) -> np.ndarray:
        """For each row of x, an interval (lo, hi) of u = log c outside which p(c | x) holds
        a negligible (e^-60) share of its mass: (n, 2)."""
        x = check.observations("x", x, self.n_obs)
        rows = []
        for row in x:
            whitened = row / self.noise_std
            rows.append(self._integration_range(self._project @ whitened, float(whitened @ whitened))[:2])
        return np.array(rows, dtype=float)

    def _moments_one(self, x_row: np.ndarray, rtol: float):
        whitened = x_row / self.noise_std
        projected = self._project @ whitened
        sq_norm = float(whitened @ whitened)
        lo, hi, peak = self._integration_range(projected, sq_norm)
        k = self.n_latent

        def integrand(log_contrast):
            weight = np.exp(self._log_joint_contrast(np.asarray(log_contrast), projected, sq_norm) - peak)
            c = np.exp(log_contrast)
            denominators = 1.0 + c**2 * self._eigvals
            nu = c * projected / denominators  # eigenbasis mean of p(z | x, c)
            return weight * np.concatenate(([1.0, c, c**2], nu, 1.0 / denominators, np.outer(nu, nu).ravel()))

        values, error = integrate.quad_vec(integrand, lo, hi, epsabs=0.0, epsrel=rtol, norm="max", limit=500)
        normaliser = values[0]
        values = values / normaliser
        # First-order error of each normalised moment v_i / Z, from the max-norm error of
        # the integrals: |d(v/Z)| <= (err / Z) * (1 + |v / Z|).
        moment_error = error / normaliser * (1.0 + np.abs(values).max())
        c_mean, c_sq = values[1], values[2]
        nu_mean = values[3:3 + k]
        diag_mean = values[3 + k:3 + 2 * k]
        nu_outer = values[3 + 2 * k:].reshape(k, k)
        mean = self._basis @ nu_mean
        second = self._basis @ (np.diag(diag_mean) + nu_outer) @ self._basis.T
        cov = second - np.outer(mean, mean)
        gain = np.abs(self._basis).sum(axis=1).max()  # infinity norm of the basis change
        mean_error = gain * moment_error
        cov_error = 2 * gain**2 * moment_error + 2 * np.abs(mean).max() * mean_error
        log_evidence = np.log(normaliser) + peak
        return mean, cov, c_mean, np.sqrt(max(c_sq - c_mean**2, 0.0)), log_evidence, mean_error, cov_error

    def posterior(self, x, rtol: float = 1e-10) -> GSMPosterior:
        """Exact posterior moments of z (and of c) for each row of x, by quadrature.

        Parameters
        ----------
        x : (n, D) or (D,) observations.
        rtol : relative tolerance of the adaptive quadrature.
        """
        x = check.observations("x", x, self.n_obs)
        rtol = float(check.positive("rtol", rtol))
        rows = [self._moments_one(row, rtol) for row in x]
        mean, cov, c_mean, c_sd, log_ev, mean_err, cov_err = (np.array(v) for v in zip(*rows, strict=True))
        return GSMPosterior(mean=mean, cov=cov, contrast_mean=c_mean, contrast_sd=c_sd,
                            log_evidence=log_ev, mean_error=mean_err, cov_error=cov_err)

    def contrast_density(self, x, contrast_grid, log_evidence=None) -> np.ndarray:
        """Posterior density p(c | x) (per unit contrast) on a grid of c > 0: shape (n, G)."""
        x = check.observations("x", x, self.n_obs)
        grid = check.positive("contrast_grid", contrast_grid)
        if log_evidence is None:
            log_evidence = self.posterior(x).log_evidence
        densities = []
        for row, log_ev in zip(x, np.atleast_1d(log_evidence), strict=True):
            whitened = row / self.noise_std
            log_u_density = self._log_joint_contrast(np.log(grid), self._project @ whitened, whitened @ whitened)
            densities.append(np.exp(log_u_density - np.log(grid) - log_ev))
        return np.array(densities)


# ----------------------------------------------------------------------------------------
# Sparse coding (non-conjugate prior)
# ----------------------------------------------------------------------------------------

#: Priors of ``SparseCoding``: independent heavy-tailed latents.
SPARSE_PRIORS = ("laplace", "student-t")


@dataclass(frozen=True, eq=False)
class SparseCoding(_Loadings):
    """Sparse coding: x = A z + noise_std * eps, z_k independent with a heavy-tailed prior.

    The model of Olshausen & Field (1996): with ``prior="laplace"`` p(z_k) = exp(-|z_k| / b) / 2b
    (variance 2 b^2), with ``prior="student-t"`` a Student t with ``dof`` degrees of freedom and
    scale b (variance b^2 dof / (dof - 2) for dof > 2). The prior is not conjugate to the
    Gaussian likelihood, so the posterior has no closed form in general; its reference is
    NUTS (``analysis.nuts``). When A has orthonormal columns and the noise is isotropic it
    factorises, |x - A z|^2 = |x|^2 - |A^T x|^2 + |A^T x - z|^2, into K one-dimensional
    posteriors, and ``factorised_posterior`` computes it exactly by quadrature.

    Parameters
    ----------
    A : (D, K) dictionary (generative filters).
    noise_std : float > 0, isotropic observation noise sd.
    prior : one of ``SPARSE_PRIORS``.
    prior_scale : float > 0, b.
    dof : float > 0, degrees of freedom of the Student t (ignored for the Laplace prior).
    """

    A: np.ndarray
    noise_std: float
    prior: str = "laplace"
    prior_scale: float = 1.0
    dof: float = 3.0

    def __post_init__(self):
        A = _loading_matrix(self.A)
        if self.prior not in SPARSE_PRIORS:
            raise ValueError(f"prior must be one of {SPARSE_PRIORS}, got {self.prior!r}")
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "noise_std", float(check.positive("noise_std", self.noise_std)))
        object.__setattr__(self, "prior_scale", float(check.positive("prior_scale", self.prior_scale)))
        object.__setattr__(self, "dof", float(check.positive("dof", self.dof)))

    @property
    def prior_distribution(self):
        """The prior of one latent as a frozen ``scipy.stats`` distribution."""
        if self.prior == "laplace":
            return stats.laplace(scale=self.prior_scale)
        return stats.t(self.dof, scale=self.prior_scale)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw n joint samples: z of shape (n, K) and x of shape (n, D)."""
        n = check.count("n", n)
        z = self.prior_distribution.rvs(size=(n, self.n_latent), random_state=rng)
        x = z @ self.A.T + self.noise_std * rng.standard_normal((n, self.n_obs))
        return z, x

    def log_joint(self, z, x) -> np.ndarray:
        """log p(x, z) (nats) for rows of z (n, K) and x (n, D)."""
        x = check.observations("x", x, self.n_obs)
        z = check.observations("z", z, self.n_latent)
        residual = x - z @ self.A.T
        log_lik = -0.5 * ((residual / self.noise_std) ** 2).sum(1) - self.n_obs * np.log(
            np.sqrt(2 * np.pi) * self.noise_std)
        return log_lik + self.prior_distribution.logpdf(z).sum(1)

    def factorised_posterior(self, x, rtol: float = 1e-10) -> GaussianPosterior:
        """Exact posterior means and (diagonal) covariances when A has orthonormal columns.

        Each latent's posterior is p(z_k | y_k) proportional to N(y_k; z_k, noise_std^2) p(z_k)
        with y = A^T x; its moments are integrated by adaptive quadrature. The returned
        ``GaussianPosterior`` carries the exact first two moments (n, K) and (n, K, K), not a
        Gaussian approximation's parameters. Raises ValueError when A^T A is not the identity.
        """
        x = check.observations("x", x, self.n_obs)
        if not np.allclose(self.A.T @ self.A, np.eye(self.n_latent), atol=1e-8):
            raise ValueError("A must have orthonormal columns for the posterior to factorise; "
                             "use analysis.nuts.nuts_posterior otherwise")
        projected = x @ self.A
        log_prior = self.prior_distribution.logpdf
        mean, var = np.empty_like(projected), np.empty_like(projected)
        for index, y in np.ndenumerate(projected):
            # The likelihood confines z to y +- 40 noise sd (e^-800 outside); the prior only
            # shrinks the posterior towards 0, so the interval [min(y, 0), max(y, 0)] +- 40 sd
            # holds it.
            lo, hi = min(y, 0.0) - 40 * self.noise_std, max(y, 0.0) + 40 * self.noise_std
            grid = np.linspace(lo, hi, 2001)
            peak = np.max(log_prior(grid) - 0.5 * ((grid - y) / self.noise_std) ** 2)

            def integrand(z, y=y, peak=peak):
                weight = np.exp(log_prior(z) - 0.5 * ((z - y) / self.noise_std) ** 2 - peak)
                return weight * np.array([1.0, z, z * z])

            values, _ = integrate.quad_vec(integrand, lo, hi, epsabs=0.0, epsrel=rtol, points=[0.0, y])
            mean[index] = values[1] / values[0]
            var[index] = values[2] / values[0] - mean[index] ** 2
        cov = np.zeros(projected.shape + (self.n_latent,))
        cov[:, np.arange(self.n_latent), np.arange(self.n_latent)] = var
        return GaussianPosterior(mean=mean, cov=cov)


# ----------------------------------------------------------------------------------------
# Gaussian mixture
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MixturePosterior:
    """Posterior of a Gaussian-mixture model for n observations.

    Attributes
    ----------
    responsibilities : (n, M) p(k | x).
    component_means : (n, M, K) or None, means of p(z | x, k) (None without a continuous latent).
    component_covs : (M, K, K) or None, covariances of p(z | x, k).
    """

    responsibilities: np.ndarray
    component_means: np.ndarray | None = None
    component_covs: np.ndarray | None = None

    def _require_latent(self):
        if self.component_means is None:
            raise ValueError("this mixture has no continuous latent (it was built without A)")

    @property
    def mean(self) -> np.ndarray:
        """Posterior mean of z, (n, K)."""
        self._require_latent()
        return np.einsum("nm,nmk->nk", self.responsibilities, self.component_means)

    @property
    def cov(self) -> np.ndarray:
        """Posterior covariance of z by the law of total covariance, (n, K, K)."""
        self._require_latent()
        within = np.einsum("nm,mij->nij", self.responsibilities, self.component_covs)
        centred = self.component_means - self.mean[:, None, :]
        between = np.einsum("nm,nmi,nmj->nij", self.responsibilities, centred, centred)
        return within + between


@dataclass(frozen=True, eq=False)
class GaussianMixture:
    """Mixture of Gaussians, observed directly or through a linear-Gaussian channel.

    Without ``A``: k ~ Categorical(weights), x ~ N(means[k], covs[k]); the latent is the
    component index and the posterior is p(k | x).
    With ``A`` (D, K) and ``noise_std``: z ~ sum_k w_k N(means[k], covs[k]) in R^K and
    x = A z + noise_std * eps; then p(z | x) is again a mixture, with weights p(k | x) and
    linear-Gaussian component posteriors.

    Parameters
    ----------
    means : (M, K) component means.
    covs : (M, K, K) component covariances, each symmetric positive definite.
    weights : (M,) mixing proportions, non-negative, summing to one.
    A, noise_std : optional linear observation model.
    """

    means: np.ndarray
    covs: np.ndarray
    weights: np.ndarray
    A: np.ndarray | None = None
    noise_std: np.ndarray | float | None = None

    def __post_init__(self):
        means = check.finite_array("means", self.means, ndim=2)
        n_comp, n_latent = means.shape
        covs = check.finite_array("covs", self.covs, ndim=3)
        if covs.shape != (n_comp, n_latent, n_latent):
            raise ValueError(f"covs must have shape ({n_comp}, {n_latent}, {n_latent}), got {covs.shape}")
        for k in range(n_comp):
            check.positive_definite(f"covs[{k}]", covs[k], n_latent)
        weights = check.probability_vector("weights", self.weights)
        if weights.shape != (n_comp,):
            raise ValueError(f"weights must have shape ({n_comp},), got {weights.shape}")
        if (self.A is None) != (self.noise_std is None):
            raise ValueError("A and noise_std must be given together")
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "covs", covs)
        object.__setattr__(self, "weights", weights)
        if self.A is not None:
            A = _loading_matrix(self.A)
            if A.shape[1] != n_latent:
                raise ValueError(f"A must have {n_latent} columns (one per latent), got {A.shape}")
            object.__setattr__(self, "A", A)
            object.__setattr__(self, "noise_std", _noise_std_vector(self.noise_std, A.shape[0]))

    @property
    def n_components(self) -> int:
        return self.means.shape[0]

    @property
    def n_obs(self) -> int:
        return self.means.shape[1] if self.A is None else self.A.shape[0]

    def _observation_components(self):
        """Means (M, D) and covariances (M, D, D) of x given each component."""
        if self.A is None:
            return self.means, self.covs
        obs_means = self.means @ self.A.T
        obs_covs = self.A @ self.covs @ self.A.T + np.diag(self.noise_std**2)
        return obs_means, obs_covs

    def component_log_densities(self, x) -> np.ndarray:
        """log w_k + log p(x | k) for each row and component, (n, M), nats."""
        x = check.observations("x", x, self.n_obs)
        obs_means, obs_covs = self._observation_components()
        columns = [np.log(w) + stats.multivariate_normal(m, c).logpdf(x).reshape(-1) if w > 0
                   else np.full(x.shape[0], -np.inf)
                   for w, m, c in zip(self.weights, obs_means, obs_covs, strict=True)]
        return np.stack(columns, axis=1)

    def log_prob(self, x) -> np.ndarray:
        """log p(x) in nats, (n,)."""
        return special.logsumexp(self.component_log_densities(x), axis=1)

    def responsibilities(self, x) -> np.ndarray:
        """p(k | x), (n, M); computed with a stable log-sum-exp."""
        log_joint = self.component_log_densities(x)
        return np.exp(log_joint - special.logsumexp(log_joint, axis=1, keepdims=True))

    def sample(self, n: int, rng: np.random.Generator, return_components: bool = False):
        """Draw n samples. Returns (z, x): z is the component index (n,) without A, else (n, K)."""
        n = check.count("n", n)
        labels = rng.choice(self.n_components, size=n, p=self.weights)
        chol = np.linalg.cholesky(self.covs)
        eps = rng.standard_normal((n, self.means.shape[1]))
        draws = self.means[labels] + np.einsum("nij,nj->ni", chol[labels], eps)
        if self.A is None:
            return (labels, draws, labels) if return_components else (labels, draws)
        x = draws @ self.A.T + self.noise_std * rng.standard_normal((n, self.A.shape[0]))
        return (draws, x, labels) if return_components else (draws, x)

    def posterior(self, x) -> MixturePosterior:
        """Exact posterior for each row of x."""
        x = check.observations("x", x, self.n_obs)
        resp = self.responsibilities(x)
        if self.A is None:
            return MixturePosterior(responsibilities=resp)
        comp_means, comp_covs = [], []
        for mean, cov in zip(self.means, self.covs, strict=True):
            precision = np.linalg.inv(cov) + self.A.T @ (self.A / self.noise_std[:, None] ** 2)
            post_cov = np.linalg.inv(precision)
            info = (x / self.noise_std**2) @ self.A + np.linalg.solve(cov, mean)
            comp_means.append(info @ post_cov.T)
            comp_covs.append(post_cov)
        return MixturePosterior(resp, np.stack(comp_means, axis=1), np.stack(comp_covs))


# ----------------------------------------------------------------------------------------
# Boltzmann machine
# ----------------------------------------------------------------------------------------


def state_bits(indices, n_units: int) -> np.ndarray:
    """Binary states for state indices: unit k is bit k of the index. Shape (n, K), uint8."""
    indices = np.asarray(indices, dtype=np.int64)
    return ((indices[:, None] >> np.arange(n_units)) & 1).astype(np.uint8)


def state_index(states) -> np.ndarray:
    """Inverse of ``state_bits``: index = sum_k z_k 2^k, for states of shape (..., K)."""
    states = np.asarray(states, dtype=np.int64)
    return (states << np.arange(states.shape[-1])).sum(-1)


@dataclass(frozen=True, eq=False)
class BoltzmannMachine:
    """Boltzmann machine over K binary units z in {0, 1}^K.

    p(z) = exp(1/2 z^T W z + b^T z) / Z, with W symmetric and zero on the diagonal
    (the distribution sampled by the spiking networks of Buesing, Bill, Nessler & Maass 2011).
    State indices: unit k is bit k of the index, so ``probabilities()[s]`` is the
    probability of the state with z_k = (s >> k) & 1.

    Parameters
    ----------
    W : (K, K) symmetric coupling matrix with zero diagonal (dimensionless).
    b : (K,) biases (dimensionless).
    """

    W: np.ndarray
    b: np.ndarray

    def __post_init__(self):
        W = check.finite_array("W", self.W, ndim=2)
        b = check.finite_array("b", self.b, ndim=1)
        if W.shape != (b.size, b.size):
            raise ValueError(f"W must have shape ({b.size}, {b.size}) to match b, got {W.shape}")
        if not np.allclose(W, W.T, rtol=0, atol=1e-12):
            raise ValueError("W must be symmetric")
        if np.any(np.diag(W) != 0):
            raise ValueError("W must have a zero diagonal (a self-coupling acts as a bias: put it in b)")
        object.__setattr__(self, "W", W)
        object.__setattr__(self, "b", b)

    @property
    def n_units(self) -> int:
        return self.b.size

    def _require_enumerable(self):
        if self.n_units > MAX_ENUMERATION_UNITS:
            raise ValueError(f"K = {self.n_units} units is too many to enumerate 2^K states "
                             f"(limit {MAX_ENUMERATION_UNITS}); use a sampler instead")

    def log_unnormalized(self, states) -> np.ndarray:
        """1/2 z^T W z + b^T z for states of shape (n, K), (n,)."""
        z = np.asarray(states, dtype=float)
        return 0.5 * np.einsum("ni,ij,nj->n", z, self.W, z) + z @ self.b

    def _log_unnormalized_all(self) -> np.ndarray:
        # Build the 2^K energies by doubling: adding unit k adds b_k + sum_{j<k} W_kj z_j to the
        # states with bit k set. O(2^K) time and memory, no (2^K, K) state table.
        energies = np.zeros(1)
        for k in range(self.n_units):
            field_from_lower = np.zeros(1)
            for j in range(k):
                field_from_lower = np.concatenate([field_from_lower, field_from_lower + self.W[k, j]])
            energies = np.concatenate([energies, energies + self.b[k] + field_from_lower])
        return energies

    def log_partition(self) -> float:
        """log Z, nats."""
        self._require_enumerable()
        return float(special.logsumexp(self._log_unnormalized_all()))

    def probabilities(self) -> np.ndarray:
        """Exact p(state) for all 2^K states, (2^K,); refuses K > MAX_ENUMERATION_UNITS."""
        self._require_enumerable()
        log_p = self._log_unnormalized_all()
        p = np.exp(log_p - log_p.max())
        return p / p.sum()

    def moments(self, chunk: int = 1 << 16) -> tuple[np.ndarray, np.ndarray]:
        """Exact E[z] (K,) and E[z z^T] (K, K), summed over states in chunks."""
        p = self.probabilities()
        first = np.zeros(self.n_units)
        second = np.zeros((self.n_units, self.n_units))
        for start in range(0, p.size, chunk):
            idx = np.arange(start, min(start + chunk, p.size))
            bits = state_bits(idx, self.n_units).astype(float)
            weighted = bits * p[idx, None]
            first += weighted.sum(0)
            second += bits.T @ weighted
        return first, second

    def marginals(self) -> np.ndarray:
        """Exact p(z_k = 1), (K,)."""
        return self.moments()[0]

    def correlations(self) -> np.ndarray:
        """Exact pairwise Pearson correlations of the units, (K, K); NaN where a unit is constant."""
        first, second = self.moments()
        cov = second - np.outer(first, first)
        sd = np.sqrt(np.clip(np.diag(cov), 0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            return cov / np.outer(sd, sd)

    def conditional(self, clamped_units: Sequence[int], clamped_values: Sequence[int]) -> BoltzmannMachine:
        """The exact conditional over the free units given clamped (observed) units.

        The conditional of a Boltzmann machine is a Boltzmann machine on the free units
        (in increasing index order) with couplings W_ff and biases b_f + W_fc z_c.
        """
        clamped_units = np.asarray(clamped_units, dtype=int).reshape(-1)
        values = np.asarray(clamped_values).reshape(-1)
        if clamped_units.size != values.size:
            raise ValueError("clamped_units and clamped_values must have the same length")
        if np.any((clamped_units < 0) | (clamped_units >= self.n_units)):
            raise ValueError(f"clamped_units must lie in 0..{self.n_units - 1}")
        if np.unique(clamped_units).size != clamped_units.size:
            raise ValueError("clamped_units has repeated units")
        if not np.all(np.isin(values, (0, 1))):
            raise ValueError("clamped_values must be 0 or 1")
        free = self.free_units(clamped_units)
        if free.size == 0:
            raise ValueError("at least one unit must stay free")
        bias = self.b[free] + self.W[np.ix_(free, clamped_units)] @ values.astype(float)
        return BoltzmannMachine(self.W[np.ix_(free, free)], bias)

    def free_units(self, clamped_units: Sequence[int]) -> np.ndarray:
        """Indices of the units not in ``clamped_units``, increasing."""
        return np.setdiff1d(np.arange(self.n_units), np.asarray(clamped_units, dtype=int))

    def gibbs(self, n_samples: int, rng: np.random.Generator, n_chains: int = 1,
              burn_in: int = 100, init=None) -> np.ndarray:
        """Systematic-scan Gibbs sampler, the reference sampler.

        One sample is recorded after each full sweep over the units (k = 0, ..., K-1).

        Parameters
        ----------
        n_samples : samples per chain (sweeps after burn-in).
        rng : random generator.
        n_chains : independent chains, updated together (vectorised).
        burn_in : sweeps discarded first.
        init : optional (n_chains, K) initial states; uniform random by default.

        Returns
        -------
        samples : (n_chains, n_samples, K) uint8 states.
        """
        n_samples = check.count("n_samples", n_samples)
        n_chains = check.count("n_chains", n_chains)
        burn_in = check.count("burn_in", burn_in, minimum=0)
        K = self.n_units
        if init is None:
            state = rng.integers(0, 2, size=(n_chains, K)).astype(float)
        else:
            state = np.array(init, dtype=float).reshape(n_chains, K)
        out = np.empty((n_chains, n_samples, K), dtype=np.uint8)
        for sweep in range(burn_in + n_samples):
            uniforms = rng.random((K, n_chains))
            for k in range(K):
                drive = self.b[k] + state @ self.W[k]
                state[:, k] = uniforms[k] < special.expit(drive)
            if sweep >= burn_in:
                out[:, sweep - burn_in] = state
        return out

    def gibbs_transition_matrix(self) -> np.ndarray:
        """Exact transition matrix T[s, s'] of one systematic Gibbs sweep, (2^K, 2^K).

        Rows sum to one; the exact distribution p satisfies p T = p. K <= 10.
        """
        K = self.n_units
        if K > MAX_TRANSITION_MATRIX_UNITS:
            raise ValueError(f"K = {K} is too many for a dense transition matrix "
                             f"(limit {MAX_TRANSITION_MATRIX_UNITS})")
        n_states = 1 << K
        states = state_bits(np.arange(n_states), K).astype(float)
        transition = np.eye(n_states)
        for k in range(K):
            p_on = special.expit(self.b[k] + states @ self.W[k])
            off = np.arange(n_states) & ~(1 << k)
            on = off | (1 << k)
            update = np.zeros((n_states, n_states))
            update[np.arange(n_states), on] = p_on
            update[np.arange(n_states), off] += 1 - p_on
            transition = transition @ update
        return transition
