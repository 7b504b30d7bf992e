"""Gradient descent on log-sum-exp objectives performs EM: the identities, exactly.

No statistical tolerance: the identities are checked to rounding on fixed data, and EM and
gradient training are deterministic (full batch) from fixed starts, so their bars (1% of the
log-likelihood, the escape-iteration order) are about convergence, not sampling."""

import numpy as np
import pytest
from scipy import special

from analysis.generative import GaussianMixture
from analysis.implicit_em import (
    MixtureParameters,
    cross_entropy_gradient,
    em_step,
    fit_em,
    fit_gradient,
    free_energy,
    independent_sigmoid_gradient,
    log_likelihood,
    mean_gradient,
    mixture_distances,
    responsibility_gradient,
)


def _random_mixture(rng, k, dim=3):
    means = rng.normal(0, 2, (k, dim))
    factors = rng.normal(size=(k, dim, dim)) / np.sqrt(dim)
    covs = factors @ np.swapaxes(factors, -1, -2) + 0.3 * np.eye(dim)
    return MixtureParameters(means, covs, rng.dirichlet(np.ones(k)))


@pytest.mark.parametrize("k", range(2, 11))
def test_gradient_with_respect_to_distances_is_minus_the_responsibility(k, rng):
    params = _random_mixture(rng, k)
    x = rng.normal(0, 3, (40, 3))
    gradient, resp = responsibility_gradient(x, params.means, params.covs, params.weights)
    assert gradient.shape == resp.shape == (40, k)
    np.testing.assert_allclose(gradient, -resp, atol=1e-6, rtol=0)
    # L = logsumexp(-d) is the mixture log-likelihood, computed independently by scipy.
    np.testing.assert_allclose(special.logsumexp(-mixture_distances(x, params), axis=1),
                               GaussianMixture(params.means, params.covs, params.weights).log_prob(x), atol=1e-9)


def test_near_degenerate_and_huge_distances_do_not_overflow():
    dim = 2
    means = np.zeros((4, dim))
    covs = np.stack([np.eye(dim)] * 4)
    weights = np.full(4, 0.25)
    x = np.array([[0.0, 0.0], [1e3, -1e3], [1e-9, 0.0]])  # the second row: distances ~ 1e6 nats
    gradient, resp = responsibility_gradient(x, means, covs, weights)
    assert np.all(np.isfinite(gradient))
    np.testing.assert_allclose(gradient, -np.full((3, 4), 0.25), atol=1e-12)
    np.testing.assert_allclose(resp, 0.25, atol=1e-12)
    # Two far-apart components: responsibilities saturate at 0 and 1 without NaN.
    far = MixtureParameters(np.array([[0.0, 0.0], [50.0, 0.0]]), np.stack([np.eye(2)] * 2), np.array([0.5, 0.5]))
    gradient, resp = responsibility_gradient(np.array([[1e3, 0.0]]), far.means, far.covs, far.weights)
    np.testing.assert_allclose(gradient, [[0.0, -1.0]], atol=1e-12)


def test_cross_entropy_in_distance_form_has_gradient_onehot_minus_responsibility(rng):
    distances = rng.normal(0, 5, (30, 6))
    labels = rng.integers(0, 6, 30)
    expected = np.eye(6)[labels] - special.softmax(-distances, axis=1)
    np.testing.assert_allclose(cross_entropy_gradient(distances, labels), expected, atol=1e-12)


def test_independent_sigmoids_have_no_responsibility_identity(rng):
    # Negative control: without a partition function the gradient is -sigmoid(d), not -r.
    distances = rng.normal(0, 2, (30, 5))
    gradient = independent_sigmoid_gradient(distances)
    np.testing.assert_allclose(gradient, -special.expit(distances), atol=1e-12)
    assert np.max(np.abs(gradient + special.softmax(-distances, axis=1))) > 0.1
    assert np.max(np.abs(gradient.sum(1) + 1)) > 0.1


def test_em_step_on_the_means_is_the_preconditioned_gradient(rng):
    # Xu & Jordan (1996): mu_EM - mu = (Sigma_j / N_j) dL/dmu_j.
    params = _random_mixture(rng, 4)
    x = rng.normal(0, 3, (200, 3))
    counts = params.mixture.responsibilities(x).sum(0)
    step = np.einsum("kij,kj->ki", params.covs, mean_gradient(x, params)) / counts[:, None]
    np.testing.assert_allclose(em_step(x, params).means, params.means + step, atol=1e-8, rtol=0)


def test_em_is_coordinate_ascent_on_the_free_energy(rng):
    # Neal & Hinton (1998): F(r, theta) = L(theta); F(q, theta) <= L for any other q;
    # so EM never lowers the log-likelihood.
    params = _random_mixture(rng, 3)
    x = rng.normal(0, 2, (150, 3))
    total = log_likelihood(x, params) * len(x)
    resp = params.mixture.responsibilities(x)
    assert free_energy(x, params, resp) == pytest.approx(total, abs=1e-8)
    other = rng.dirichlet(np.ones(3), size=len(x))
    assert free_energy(x, params, other) < total
    fit = fit_em(x, params, max_iterations=40, tolerance=-np.inf)
    assert fit.iterations == 40 and np.all(np.diff(fit.log_likelihood) >= -1e-10)


@pytest.fixture(scope="module")
def three_clusters():
    rng = np.random.default_rng(7)
    truth = GaussianMixture(np.array([[-3.0, 0.0], [3.0, 0.5], [0.0, 4.0]]),
                            np.stack([np.eye(2), np.diag([0.5, 1.5]), np.array([[1.0, 0.6], [0.6, 1.0]])]),
                            np.array([0.3, 0.3, 0.4]))
    _, x = truth.sample(1500, rng)
    start = x[rng.choice(len(x), 3, replace=False)]
    initial = MixtureParameters(start, np.stack([np.cov(x.T)] * 3), np.full(3, 1 / 3))
    return x, initial


def test_gradient_training_reaches_the_em_solution(three_clusters):
    x, initial = three_clusters
    em = fit_em(x, initial)
    gradient = fit_gradient(x, initial, iterations=1500, learning_rate=0.05)
    assert abs(gradient.log_likelihood[-1] - em.log_likelihood[-1]) < 0.01 * abs(em.log_likelihood[-1])


@pytest.mark.parametrize("learning_rate", [0.1, 1.0])
def test_em_leaves_the_one_cluster_solution_before_gradient_ascent(learning_rate):
    # Zhang, Poupart & Trimponias (2019): two components started (almost) at the same point,
    # means learned, unit covariances and equal weights known. EM's step is the gradient
    # preconditioned by Sigma_j / N_j (Xu & Jordan), which amplifies the escape direction;
    # on the mean log-likelihood that is a step of Sigma_j / pi_j = 2 here, so plain gradient
    # ascent at any smaller step is slower (measured: EM 5 iterations, gradient 45 at 0.1,
    # 7 at 1.0, 5 at 2.0).
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.normal([-2.0, 0.0], 1.0, (300, 2)), rng.normal([2.0, 0.0], 1.0, (300, 2))])
    centre = x.mean(0)
    nudge = np.array([1e-3, 0.0])
    initial = MixtureParameters(np.stack([centre - nudge, centre + nudge]), np.stack([np.eye(2)] * 2),
                                np.array([0.5, 0.5]))
    em = fit_em(x, initial, max_iterations=300, tolerance=-np.inf, train=("means",))
    gradient = fit_gradient(x, initial, iterations=300, learning_rate=learning_rate, optimizer="sgd",
                            train=("means",))
    em_iterations, gd_iterations = _iterations_to_separate(em.means), _iterations_to_separate(gradient.means)
    assert em_iterations < gd_iterations


def _iterations_to_separate(means, threshold=2.0):
    """First iteration at which the two means are ``threshold`` apart (len(means) if never)."""
    apart = np.linalg.norm(means[:, 0] - means[:, 1], axis=-1) > threshold
    return int(np.argmax(apart)) if apart.any() else len(means)
