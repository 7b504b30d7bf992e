"""The exact GSM posterior density and the Gaussians scored against it, against independent
computations: a grid integral over z (normalisation, mean and covariance from the model's
adaptive quadrature), and closed forms when the contrast prior is nearly a point mass (the
posterior is then the linear-Gaussian one at c = 1, whose KL to a Gaussian, best Gaussian
and best factorised Gaussian are known exactly).

False alarms: Monte Carlo comparisons allow 4 standard errors (two-sided Gaussian 6e-5)
plus the point-mass approximation's own error (contrast sd 1e-3); grid comparisons are to
quadrature accuracy. Seeds are fixed."""

import jax
import numpy as np
import pytest

from analysis.compare import gaussian_kl
from analysis.generative import GaussianScaleMixture, LinearGaussian
from analysis.gsm_posterior import best_gaussian, gaussian_kl_to_posterior, log_posterior_density

LOADINGS = np.array([[1.0, -0.5], [0.3, 0.8], [-0.7, 0.4]])
PRIOR_COV = np.array([[1.0, 0.3], [0.3, 1.0]])


@pytest.mark.parametrize("contrast", [0.05, 0.4, 3.0])
def test_density_integrates_to_one_with_the_quadrature_moments(contrast):
    model = GaussianScaleMixture(LOADINGS, PRIOR_COV, 0.5, 2.0, 0.5)
    rng = np.random.default_rng(3)
    x = (contrast * LOADINGS @ rng.normal(size=2) + 0.5 * rng.normal(size=3))[None]
    moments = model.posterior(x)
    mean, sd = moments.mean[0], np.sqrt(np.diag(moments.cov[0]))
    offsets = np.linspace(-9, 9, 361)
    grid = np.stack(np.meshgrid(mean[0] + offsets * sd[0], mean[1] + offsets * sd[1], indexing="ij"), -1)
    grid = grid.reshape(1, -1, 2)
    mass = np.exp(log_posterior_density(model, grid, x)[0]) * (offsets[1] - offsets[0]) ** 2 * sd.prod()
    assert mass.sum() == pytest.approx(1.0, abs=1e-5)
    grid_mean = mass @ grid[0]
    centred = grid[0] - mean
    np.testing.assert_allclose(grid_mean, mean, atol=1e-4 * sd.min())  # float32 sums (JAX)
    np.testing.assert_allclose((centred * mass[:, None]).T @ centred, moments.cov[0], atol=1e-4 * sd.min() ** 2)


def _point_mass_contrast():
    """A GSM whose contrast is 1 +- 0.001, and the linear-Gaussian model it nearly is."""
    gsm = GaussianScaleMixture(LOADINGS, PRIOR_COV, 0.5, 1e6, 1e-6)
    return gsm, LinearGaussian(LOADINGS, 0.5, PRIOR_COV)


def test_kl_to_a_nearly_gaussian_posterior_is_the_closed_form():
    gsm, linear = _point_mass_contrast()
    _, x = linear.sample(3, np.random.default_rng(4))
    exact = linear.posterior(x)
    mean = exact.mean + np.array([0.3, -0.2])
    cov = np.broadcast_to(np.array([[0.5, 0.1], [0.1, 0.3]]), (3, 2, 2))
    kl, kl_se = gaussian_kl_to_posterior(gsm, x, mean, cov, jax.random.PRNGKey(0), n_draws=20000)
    closed_form = gaussian_kl(mean, cov, exact.mean, np.broadcast_to(exact.cov, (3, 2, 2)))
    assert np.all(kl_se > 0)
    np.testing.assert_array_less(np.abs(kl - closed_form), 4 * kl_se + 0.01 * closed_form)


@pytest.mark.parametrize("factorised", [False, True])
def test_best_gaussian_of_a_nearly_gaussian_posterior(factorised):
    """The best Gaussian is the posterior itself (KL 0); the best factorised one has the
    posterior mean and variances 1 / diag(precision) (the mean-field solution). The optimum
    on S fixed draws is off the true one by about 1 / sqrt(S) (in sd units for the mean, in
    relative terms for the covariance): 4 of those are allowed."""
    gsm, linear = _point_mass_contrast()
    _, x = linear.sample(2, np.random.default_rng(5))
    exact = linear.posterior(x)
    n_draws = 4096
    best = best_gaussian(gsm, x, jax.random.PRNGKey(1), factorised=factorised, steps=200, n_draws=n_draws)
    expected_cov = np.diag(1 / np.diag(np.linalg.inv(exact.cov))) if factorised else exact.cov
    tolerance = 4 / np.sqrt(n_draws)
    np.testing.assert_allclose(best["mean"], exact.mean, atol=tolerance * np.sqrt(expected_cov.diagonal().min()))
    scale = np.sqrt(np.outer(expected_cov.diagonal(), expected_cov.diagonal()))
    assert np.all(np.abs(best["cov"] - expected_cov) <= np.sqrt(2) * tolerance * scale)
    expected_kl = gaussian_kl(exact.mean, np.broadcast_to(expected_cov, (2, 2, 2)), exact.mean,
                              np.broadcast_to(exact.cov, (2, 2, 2)))
    np.testing.assert_array_less(np.abs(best["kl"] - expected_kl), 4 * best["kl_se"] + 0.01)
    if factorised:
        assert np.all(expected_kl > 0.02)  # the test would not tell the two families apart otherwise


def test_bad_gaussians_are_refused():
    gsm, linear = _point_mass_contrast()
    x = np.zeros((2, 3))
    key = jax.random.PRNGKey(0)
    with pytest.raises(ValueError, match="mean and cov"):
        gaussian_kl_to_posterior(gsm, x, np.zeros((2, 3)), np.broadcast_to(np.eye(2), (2, 2, 2)), key)
    with pytest.raises(ValueError, match="positive definite"):
        gaussian_kl_to_posterior(gsm, x, np.zeros((2, 2)), np.zeros((2, 2, 2)), key)
    with pytest.raises(ValueError, match="z must have shape"):
        log_posterior_density(gsm, np.zeros((2, 5, 3)), x)
