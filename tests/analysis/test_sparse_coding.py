"""The sparse-coding model and its exact factorised posterior.

Exact checks (closed forms, brute-force grids) with tolerances at floating-point level; the
one sampled moment (the prior's variance) is compared in standard errors: |error| < 5 SE,
false-alarm rate 6e-7 per moment. Seeds are fixed."""

import numpy as np
import pytest
from scipy import stats

from analysis.generative import SparseCoding


def _orthonormal(n_obs, n_latent, seed=0):
    return np.linalg.qr(np.random.default_rng(seed).normal(size=(n_obs, n_latent)))[0]


def test_laplace_posterior_matches_the_truncated_normal_mixture():
    """p(z | y) for a Laplace prior and Gaussian noise is a two-piece mixture of truncated
    normals: on z > 0 it is N(y - s^2 / b, s^2) truncated, on z < 0 N(y + s^2 / b, s^2)."""
    model = SparseCoding(_orthonormal(6, 4), noise_std=0.3, prior="laplace", prior_scale=0.7)
    _, x = model.sample(5, np.random.default_rng(1))
    exact = model.factorised_posterior(x)
    y, s, b = x @ model.A, 0.3, 0.7
    upper, lower = y - s**2 / b, y + s**2 / b
    log_upper = (upper**2 - y**2) / (2 * s**2) + stats.norm.logcdf(upper / s)
    log_lower = (lower**2 - y**2) / (2 * s**2) + stats.norm.logcdf(-lower / s)
    positive = stats.truncnorm(-upper / s, np.inf, loc=upper, scale=s)
    negative = stats.truncnorm(-np.inf, -lower / s, loc=lower, scale=s)
    weight = 1.0 / (1.0 + np.exp(log_lower - log_upper))
    mean = weight * positive.mean() + (1 - weight) * negative.mean()
    second = (weight * (positive.var() + positive.mean() ** 2)
              + (1 - weight) * (negative.var() + negative.mean() ** 2))
    np.testing.assert_allclose(exact.mean, mean, atol=1e-10)
    np.testing.assert_allclose(np.diagonal(exact.cov, axis1=1, axis2=2), second - mean**2, atol=1e-10)
    assert np.count_nonzero(exact.cov - np.diagonal(exact.cov, axis1=1, axis2=2)[..., None] * np.eye(4)) == 0


def test_student_t_posterior_matches_a_brute_force_grid():
    model = SparseCoding(_orthonormal(3, 3), noise_std=0.5, prior="student-t", prior_scale=0.4, dof=2.5)
    x = np.array([[2.0, -0.3, 0.05]])
    exact = model.factorised_posterior(x)
    grid = np.linspace(-40, 40, 400_001)
    for k, y in enumerate((x @ model.A)[0]):
        weight = stats.t.pdf(grid, 2.5, scale=0.4) * stats.norm.pdf(y, grid, 0.5)
        mean = np.sum(weight * grid) / weight.sum()
        var = np.sum(weight * grid**2) / weight.sum() - mean**2
        assert exact.mean[0, k] == pytest.approx(mean, abs=1e-7)
        assert exact.cov[0, k, k] == pytest.approx(var, abs=1e-7)


def test_log_joint_is_prior_times_likelihood():
    model = SparseCoding(np.random.default_rng(2).normal(size=(5, 3)), 0.2, "laplace", 1.5)
    z, x = model.sample(4, np.random.default_rng(3))
    expected = (stats.laplace.logpdf(z, scale=1.5).sum(1)
                + stats.multivariate_normal(np.zeros(5), 0.04 * np.eye(5)).logpdf(x - z @ model.A.T))
    np.testing.assert_allclose(model.log_joint(z, x), expected, rtol=1e-12)


def test_samples_have_the_prior_variance():
    model = SparseCoding(np.eye(2), 0.1, "laplace", 0.5)
    z, _ = model.sample(200_000, np.random.default_rng(4))
    # Var(z) = 2 b^2 = 0.5; the sample variance's SE is sqrt((m4 - var^2) / n), m4 = 24 b^4.
    se = np.sqrt((24 * 0.5**4 - 0.5**2) / z.shape[0])
    assert np.all(np.abs(z.var(0) - 0.5) < 5 * se)


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="prior"):
        SparseCoding(np.eye(2), 0.1, "cauchy")
    with pytest.raises(ValueError, match="noise_std"):
        SparseCoding(np.eye(2), 0.0)
    with pytest.raises(ValueError, match="prior_scale"):
        SparseCoding(np.eye(2), 0.1, prior_scale=-1)
    with pytest.raises(ValueError, match="orthonormal"):
        SparseCoding(np.array([[1.0, 0.5], [0.0, 1.0]]), 0.1).factorised_posterior(np.zeros((1, 2)))
