"""Distances against closed forms computed independently.

False alarms: the Monte-Carlo KL is within 5 SE (two-sided Gaussian 6e-7). The bars of the
exact-sampler check of ``compare_to_gaussian`` (2000 stimuli x 3 latents, 400 draws each) are
each >= 4.5 sd of that metric's spread over 20 seeds away from its mean (measured; e.g.
coverage at 50%: mean 0.498, sd 0.0083, bar 0.04), so under 1e-5 each; the too-narrow
sampler's coverage bar is 3.7 binomial SE (2e-4). Seeds are fixed, so a run is never flaky."""

import numpy as np
import pytest
from scipy import stats

from analysis.compare import (
    compare_to_gaussian,
    correlation_agreement,
    discrete_kl,
    empirical_coverage,
    gaussian_kl,
    mean_field_kl_floor,
    state_histogram,
    total_variation,
)
from analysis.generative import LinearGaussian


def _univariate_kl(m1, s1, m2, s2):
    return np.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5


def test_gaussian_kl_diagonal_is_sum_of_univariate():
    m1, s1 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 0.5, 2.0])
    m2, s2 = np.array([0.5, 0.0, -1.0]), np.array([2.0, 0.7, 1.0])
    expected = _univariate_kl(m1, s1, m2, s2).sum()
    assert gaussian_kl(m1, np.diag(s1**2), m2, np.diag(s2**2)) == pytest.approx(expected, rel=1e-12)
    # And the other direction.
    reverse = _univariate_kl(m2, s2, m1, s1).sum()
    assert gaussian_kl(m2, np.diag(s2**2), m1, np.diag(s1**2)) == pytest.approx(reverse, rel=1e-12)


def test_gaussian_kl_matches_monte_carlo(rng):
    cov_p = np.array([[1.0, 0.6], [0.6, 1.5]])
    cov_q = np.array([[2.0, -0.3], [-0.3, 0.7]])
    m_p, m_q = np.array([0.2, -0.1]), np.array([-0.4, 0.5])
    z = rng.multivariate_normal(m_p, cov_p, 400_000)
    log_ratio = stats.multivariate_normal(m_p, cov_p).logpdf(z) - stats.multivariate_normal(m_q, cov_q).logpdf(z)
    se = log_ratio.std() / np.sqrt(z.shape[0])
    assert abs(gaussian_kl(m_p, cov_p, m_q, cov_q) - log_ratio.mean()) < 5 * se


def test_gaussian_kl_broadcasts_over_batches(rng):
    means = rng.normal(size=(4, 3))
    kl = gaussian_kl(means, np.eye(3), np.zeros(3), 2 * np.eye(3))
    expected = [gaussian_kl(m, np.eye(3), np.zeros(3), 2 * np.eye(3)) for m in means]
    np.testing.assert_allclose(kl, expected)


def test_discrete_kl_zero_conventions():
    assert discrete_kl([0.5, 0.5, 0.0], [0.25, 0.25, 0.5]) == pytest.approx(np.log(2))
    assert discrete_kl([0.5, 0.5], [1.0, 0.0]) == np.inf
    assert total_variation([0.5, 0.5, 0.0], [0.25, 0.25, 0.5]) == pytest.approx(0.5)


def test_mean_field_floor_is_the_kl_of_the_best_factorised_gaussian(rng):
    model = LinearGaussian(rng.normal(size=(6, 3)), 0.5)
    H = model.posterior_precision
    floor = mean_field_kl_floor(H)
    mean = np.zeros(3)
    best = gaussian_kl(mean, np.diag(1 / np.diag(H)), mean, np.linalg.inv(H))
    assert floor == pytest.approx(best, rel=1e-12)
    for _ in range(20):  # any other factorised variance does worse
        other = np.diag(np.exp(rng.normal(scale=0.3, size=3)) / np.diag(H))
        assert gaussian_kl(mean, other, mean, np.linalg.inv(H)) > floor


def test_samples_from_the_exact_posterior_score_as_exact(rng):
    model = LinearGaussian(rng.normal(size=(6, 3)), 0.6)
    z, x = model.sample(2000, rng)
    post = model.posterior(x)
    samples = post.sample(400, rng)
    metrics = compare_to_gaussian(samples, post.mean, post.cov, z_true=z)
    # sample-mean error ~ sqrt(2/pi)/sqrt(400) = 0.04 posterior sd
    assert metrics["mean_error_sd"] == pytest.approx(np.sqrt(2 / np.pi / 400), rel=0.1)
    assert metrics["variance_ratio"] == pytest.approx(1.0, abs=0.01)
    assert metrics["kl_moment_matched"] < 0.02  # plug-in bias (3 + 6) / 800 = 0.011
    assert metrics["noise_correlation_match"] > 0.99
    # Sample correlations from 400 draws: SE about 1/sqrt(400) per stimulus, averaged over 2000.
    assert metrics["noise_correlation_slope"] == pytest.approx(1.0, abs=0.01)
    assert metrics["noise_correlation_rms"] < 0.01
    assert metrics["coverage_50"] == pytest.approx(0.5, abs=0.04)
    assert metrics["coverage_90"] == pytest.approx(0.9, abs=0.025)


def test_correlation_agreement_sees_the_scale_that_pearson_r_misses():
    """Exact: correlations at a tenth of the reference's have r = 1 but slope 0.1 and an RMS
    difference of 0.9 x the reference's RMS."""
    reference = np.array([0.5, -0.3, 0.2, -0.6])
    scaled = correlation_agreement(0.1 * reference, reference)
    assert scaled["pearson"] == pytest.approx(1.0)
    assert scaled["slope"] == pytest.approx(0.1)
    assert scaled["rms"] == pytest.approx(0.9 * np.sqrt(np.mean(reference**2)))
    assert correlation_agreement(reference, reference) == pytest.approx({"pearson": 1.0, "slope": 1.0, "rms": 0.0})
    with pytest.raises(ValueError, match="reference"):
        correlation_agreement(reference, np.zeros(4))
    with pytest.raises(ValueError, match="n_pairs"):
        correlation_agreement(reference, reference[:3])


def test_empirical_coverage_of_a_too_narrow_sampler_is_low(rng):
    z = rng.normal(size=(1000, 2))
    narrow = 0.3 * rng.normal(size=(1000, 500, 2))
    # P(|z| < 0.3 * 0.6745) for z ~ N(0, 1)
    expected = 2 * stats.norm.cdf(0.3 * stats.norm.ppf(0.75)) - 1
    assert empirical_coverage(narrow, z, 0.5) == pytest.approx(expected, abs=0.03)


def test_state_histogram_counts_states():
    states = np.array([[0, 0], [1, 0], [1, 0], [1, 1]])
    np.testing.assert_allclose(state_histogram(states), [0.25, 0.5, 0.0, 0.25])


def test_signal_and_noise_correlations_are_opposite_under_an_identity_prior_and_can_agree_under_a_correlated_one():
    """Law of total covariance: signal cov = C - H^-1. With C = I every off-diagonal signal
    covariance is minus the noise covariance; with a correlated prior and a weak likelihood
    (A = 0.1 I) the signal covariance is about 0.01 C^2, whose correlation has C's sign."""
    from analysis.generative import LinearGaussian
    from analysis.linear_models import signal_noise_relation

    identity = LinearGaussian(np.random.default_rng(3).normal(size=(6, 4)), 1.0)
    relation = signal_noise_relation(identity.prior_cov, identity.posterior_cov)
    assert relation["same_sign_fraction"] == 0.0 and relation["slope"] < 0
    prior = np.array([[1.0, 0.6], [0.6, 1.0]])
    weak = LinearGaussian(0.1 * np.eye(2), 1.0, prior)
    relation = signal_noise_relation(weak.prior_cov, weak.posterior_cov)
    assert relation["same_sign_fraction"] == 1.0 and relation["slope"] > 0


def test_mixture_moments_of_point_masses_and_of_shifted_copies():
    from analysis.compare import mixture_moments

    rng = np.random.default_rng(7)
    means = rng.normal(size=(5, 3))
    # Point masses: the mixture's covariance is the population covariance of the points.
    mean, cov = mixture_moments(means, np.zeros((5, 3, 3)))
    np.testing.assert_allclose(mean, means.mean(0))
    np.testing.assert_allclose(cov, np.cov(means, rowvar=False, bias=True))
    # One covariance shared by every component adds to it.
    shared = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.1], [0.0, 0.1, 0.5]])
    np.testing.assert_allclose(mixture_moments(means, np.broadcast_to(shared, (5, 3, 3)))[1],
                               shared + np.cov(means, rowvar=False, bias=True))
    with pytest.raises(ValueError, match="covs must have shape"):
        mixture_moments(means, np.zeros((5, 2, 2)))
