"""Exact posteriors against independent computations (grids, importance sampling, enumeration).

False alarms: Monte-Carlo comparisons use 4 to 5 standard errors (delta-method SEs for the
self-normalised importance-sampling estimates): two-sided Gaussian 6e-5 at 4 SE, 6e-7 at 5;
everything else is compared with closed forms to rounding. Seeds are fixed."""

import numpy as np
import pytest
from scipy import special, stats

from analysis.compare import discrete_kl, gaussian_coverage, state_histogram
from analysis.generative import (
    BoltzmannMachine,
    GaussianMixture,
    GaussianScaleMixture,
    LinearGaussian,
    state_bits,
    state_index,
)


def _grid_moments(log_density, axes):
    """Mean and covariance of a density tabulated on a regular grid (axes: list of 1-D grids)."""
    mesh = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))
    weights = np.exp(log_density(mesh) - log_density(mesh).max())
    weights /= weights.sum()
    mean = weights @ mesh
    centred = mesh - mean
    return mean, (centred * weights[:, None]).T @ centred


# ---------------------------------------------------------------- linear Gaussian
@pytest.mark.parametrize("n_latent", [1, 2])
def test_linear_gaussian_posterior_matches_grid(rng, n_latent):
    A = rng.normal(size=(3, n_latent))
    noise_std = np.array([0.6, 0.9, 1.2])
    prior_cov = np.array([[1.0, 0.4], [0.4, 0.8]])[:n_latent, :n_latent]
    model = LinearGaussian(A, noise_std, prior_cov)
    _, x = model.sample(1, rng)

    def log_joint(z):
        prior = stats.multivariate_normal(np.zeros(n_latent), prior_cov).logpdf(z)
        lik = stats.norm(z @ A.T, noise_std).logpdf(x).sum(-1)
        return prior + lik

    axis = np.linspace(-6, 6, 801 if n_latent == 2 else 20001)
    grid_mean, grid_cov = _grid_moments(log_joint, [axis] * n_latent)
    post = model.posterior(x)
    np.testing.assert_allclose(post.mean[0], grid_mean, atol=1e-6)
    np.testing.assert_allclose(post.cov, grid_cov, atol=1e-6)


def test_linear_gaussian_precision_and_normal_equations(rng):
    model = LinearGaussian(rng.normal(size=(8, 4)), 0.5)
    _, x = model.sample(10, rng)
    post = model.posterior(x)
    np.testing.assert_allclose(post.precision, model.posterior_precision, rtol=1e-10)
    # The posterior mean solves H mu = A^T S^-1 x.
    np.testing.assert_allclose(post.mean @ model.posterior_precision, x @ model.A / 0.25, atol=1e-10)


def test_exact_posterior_is_calibrated(rng):
    model = LinearGaussian(rng.normal(size=(8, 4)), 0.7, np.diag([1.0, 2.0, 0.5, 1.5]))
    z, x = model.sample(20_000, rng)
    post = model.posterior(x)
    # 80,000 latent draws: the binomial sd of a coverage is < 0.002, so 0.02 is > 10 sd.
    assert gaussian_coverage(post.mean, post.sd, z, 0.5) == pytest.approx(0.5, abs=0.02)
    assert gaussian_coverage(post.mean, post.sd, z, 0.9) == pytest.approx(0.9, abs=0.02)


def test_posterior_samples_have_the_posterior_moments(rng):
    model = LinearGaussian(rng.normal(size=(5, 3)), 0.5)
    _, x = model.sample(2, rng)
    post = model.posterior(x)
    n = 200_000
    samples = post.sample(n, rng)
    se = post.sd / np.sqrt(n)
    assert np.all(np.abs(samples.mean(1) - post.mean) < 5 * se)


def test_log_marginal_integrates_prior_times_likelihood(rng):
    model = LinearGaussian(rng.normal(size=(2, 1)), 0.8)
    x = np.array([[0.3, -0.5]])
    z = np.linspace(-10, 10, 200_001)
    integrand = stats.norm.pdf(z) * np.prod(stats.norm.pdf(x[0], z[:, None] * model.A[:, 0], 0.8), axis=1)
    np.testing.assert_allclose(model.log_marginal(x), np.log(np.trapezoid(integrand, z)), rtol=1e-8)


# ---------------------------------------------------------------- Gaussian scale mixture
def _gsm(rng):
    return GaussianScaleMixture(A=rng.normal(size=(3, 2)), prior_cov=np.array([[1.0, 0.5], [0.5, 1.0]]),
                                noise_std=1.0, contrast_shape=2.0, contrast_scale=0.5)


def test_gsm_moments_match_importance_sampling_from_joint_samples(rng):
    """Self-normalised importance sampling from 10^6 joint prior draws, within 4 standard errors."""
    model = _gsm(rng)
    x_star = np.array([1.0, -0.5, 0.8])
    post = model.posterior(x_star)
    n = 1_000_000
    contrast = rng.gamma(model.contrast_shape, model.contrast_scale, n)
    z = rng.multivariate_normal(np.zeros(2), model.prior_cov, n)
    log_w = stats.norm.logpdf(x_star, contrast[:, None] * (z @ model.A.T), 1.0).sum(1)
    w = np.exp(log_w - log_w.max())
    w /= w.sum()
    mean = w @ z
    centred = z - mean
    # Delta-method standard error of a self-normalised estimate of E[f]: sqrt(sum w^2 (f - E f)^2).
    mean_se = np.sqrt((w[:, None] ** 2 * centred**2).sum(0))
    assert np.all(np.abs(post.mean[0] - mean) < 4 * mean_se)
    for i, j in [(0, 0), (1, 1), (0, 1)]:
        f = centred[:, i] * centred[:, j]
        estimate = w @ f
        se = np.sqrt((w**2 * (f - estimate) ** 2).sum())
        assert abs(post.cov[0, i, j] - estimate) < 4 * se
    c_centred = contrast - w @ contrast
    assert abs(post.contrast_mean[0] - w @ contrast) < 4 * np.sqrt((w**2 * c_centred**2).sum())


def test_gsm_with_near_delta_contrast_is_linear_gaussian(rng):
    A, prior_cov = rng.normal(size=(6, 3)), np.eye(3)
    shape = 1e6
    model = GaussianScaleMixture(A, prior_cov, 0.5, contrast_shape=shape, contrast_scale=1.3 / shape)
    exact = LinearGaussian(1.3 * A, 0.5, prior_cov)
    _, x = exact.sample(4, rng)
    post, reference = model.posterior(x), exact.posterior(x)
    # c has sd 1.3e-3: the moments differ from the c = 1.3 model by O(1e-6).
    np.testing.assert_allclose(post.mean, reference.mean, atol=1e-4)
    np.testing.assert_allclose(post.cov, reference.full_cov, atol=1e-4)
    np.testing.assert_allclose(post.contrast_mean, 1.3, rtol=1e-4)


def test_gsm_contrast_density_integrates_to_one_and_has_the_posterior_mean(rng):
    model = _gsm(rng)
    _, x = model.sample(2, rng)
    post = model.posterior(x)
    grid = np.linspace(1e-6, 15, 300_001)
    density = model.contrast_density(x, grid, post.log_evidence)
    np.testing.assert_allclose(np.trapezoid(density, grid, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.trapezoid(density * grid, grid, axis=1), post.contrast_mean, rtol=1e-5)
    assert np.all(post.mean_error < 1e-6) and np.all(post.cov_error < 1e-6)


def test_gsm_posterior_variance_falls_with_contrast(rng):
    """Orban et al. 2016: at higher contrast the posterior over z narrows."""
    model = _gsm(rng)
    direction = model.A @ np.array([1.0, 0.3])
    variances = [np.trace(model.posterior(scale * direction).cov[0]) for scale in (0.5, 1, 2, 4, 8)]
    assert np.all(np.diff(variances) < 0)


# ---------------------------------------------------------------- Gaussian mixture
def test_mixture_responsibilities_match_bayes_rule(rng):
    means = rng.normal(size=(3, 2)) * 3
    covs = np.stack([np.eye(2) * s for s in (0.5, 1.0, 2.0)])
    weights = np.array([0.2, 0.5, 0.3])
    model = GaussianMixture(means, covs, weights)
    labels, x = model.sample(50, rng)
    assert labels.shape == (50,)
    joint = np.stack([w * stats.multivariate_normal(m, c).pdf(x)
                      for w, m, c in zip(weights, means, covs, strict=True)], 1)
    np.testing.assert_allclose(model.posterior(x).responsibilities, joint / joint.sum(1, keepdims=True), rtol=1e-10)


def test_mixture_responsibilities_survive_far_outliers():
    model = GaussianMixture(np.array([[0.0], [1.0]]), np.ones((2, 1, 1)) * 1e-4, np.array([0.5, 0.5]))
    resp = model.responsibilities(np.array([[1e3]]))
    assert np.all(np.isfinite(resp)) and resp[0, 1] == pytest.approx(1.0)


def test_mixture_latent_posterior_matches_grid(rng):
    means = np.array([[-1.5], [2.0]])
    covs = np.array([[[0.5]], [[1.0]]])
    weights = np.array([0.4, 0.6])
    A = np.array([[1.0], [0.5]])
    model = GaussianMixture(means, covs, weights, A=A, noise_std=0.8)
    x = np.array([[0.4, 0.1]])

    def log_joint(z):
        prior = special.logsumexp([np.log(w) + stats.norm(m[0], np.sqrt(c[0, 0])).logpdf(z[:, 0])
                                   for w, m, c in zip(weights, means, covs, strict=True)], axis=0)
        return prior + stats.norm(z @ A.T, 0.8).logpdf(x).sum(-1)

    grid_mean, grid_cov = _grid_moments(log_joint, [np.linspace(-10, 10, 40001)])
    post = model.posterior(x)
    np.testing.assert_allclose(post.mean[0], grid_mean, atol=1e-6)
    np.testing.assert_allclose(post.cov[0], grid_cov, atol=1e-6)


# ---------------------------------------------------------------- Boltzmann machine
def _random_boltzmann(rng, n_units, scale=0.8):
    W = rng.normal(scale=scale, size=(n_units, n_units))
    W = np.triu(W, 1) + np.triu(W, 1).T
    return BoltzmannMachine(W, rng.normal(scale=0.5, size=n_units))


def test_boltzmann_two_units_by_hand():
    w, b0, b1 = 1.2, 0.5, -0.3
    model = BoltzmannMachine(np.array([[0.0, w], [w, 0.0]]), np.array([b0, b1]))
    # States by index: 0 = (0,0), 1 = (z0=1), 2 = (z1=1), 3 = (1,1).
    unnormalised = np.array([1.0, np.exp(b0), np.exp(b1), np.exp(b0 + b1 + w)])
    np.testing.assert_allclose(model.probabilities(), unnormalised / unnormalised.sum(), rtol=1e-12)
    np.testing.assert_allclose(model.marginals(), [(unnormalised[1] + unnormalised[3]) / unnormalised.sum(),
                                                   (unnormalised[2] + unnormalised[3]) / unnormalised.sum()])


def test_boltzmann_matches_brute_force_enumeration(rng):
    model = _random_boltzmann(rng, 5)
    states = state_bits(np.arange(32), 5)
    log_p = np.array([0.5 * s @ model.W @ s + model.b @ s for s in states.astype(float)])
    p = np.exp(log_p - special.logsumexp(log_p))
    np.testing.assert_allclose(model.probabilities(), p, rtol=1e-12)
    np.testing.assert_allclose(model.marginals(), p @ states, rtol=1e-12)
    cov = (states.T * p) @ states - np.outer(p @ states, p @ states)
    np.testing.assert_allclose(model.correlations(), cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov))))


def test_boltzmann_enumeration_agrees_with_long_gibbs_run(rng):
    model = _random_boltzmann(rng, 6)
    samples = model.gibbs(2000, rng, n_chains=500, burn_in=50)
    # Plug-in bias is about (2^6 - 1) / (2 N_eff) ~ 3e-5 for 10^6 near-independent sweeps.
    assert discrete_kl(state_histogram(samples), model.probabilities()) < 1e-3


@pytest.mark.parametrize("n_units", [1, 3, 8])
def test_gibbs_transition_matrix_leaves_exact_distribution_invariant(rng, n_units):
    model = _random_boltzmann(rng, n_units, scale=1.5)
    transition = model.gibbs_transition_matrix()
    np.testing.assert_allclose(transition.sum(1), 1.0, rtol=1e-12)
    p = model.probabilities()
    np.testing.assert_allclose(p @ transition, p, atol=1e-13)


def test_boltzmann_conditional_is_the_sliced_joint(rng):
    model = _random_boltzmann(rng, 5)
    clamped, values = [1, 3], [1, 0]
    conditional = model.conditional(clamped, values)
    states = state_bits(np.arange(32), 5)
    keep = (states[:, 1] == 1) & (states[:, 3] == 0)
    sliced = model.probabilities()[keep]
    free_states = states[keep][:, model.free_units(clamped)]
    expected = np.zeros(8)
    expected[state_index(free_states)] = sliced / sliced.sum()
    np.testing.assert_allclose(conditional.probabilities(), expected, rtol=1e-12)


def test_state_index_inverts_state_bits():
    idx = np.arange(1 << 7)
    np.testing.assert_array_equal(state_index(state_bits(idx, 7)), idx)
