"""Bad input gets a ValueError naming the parameter; properties hold over random shapes."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from analysis.compare import discrete_kl, gaussian_kl, total_variation
from analysis.generative import (
    BoltzmannMachine,
    GaussianMixture,
    GaussianScaleMixture,
    LinearGaussian,
    state_bits,
)


@pytest.mark.parametrize("noise_std", [0.0, -1.0, [1.0, 0.0, 1.0]])
def test_non_positive_noise_is_refused(noise_std):
    with pytest.raises(ValueError, match="noise_std"):
        LinearGaussian(np.ones((3, 2)), noise_std)


def test_non_psd_prior_is_refused():
    with pytest.raises(ValueError, match="prior_cov.*positive definite"):
        LinearGaussian(np.ones((3, 2)), 1.0, prior_cov=[[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="prior_cov.*symmetric"):
        LinearGaussian(np.ones((3, 2)), 1.0, prior_cov=[[1.0, 0.1], [0.0, 1.0]])
    with pytest.raises(ValueError, match="prior_cov"):
        GaussianScaleMixture(np.ones((3, 2)), -np.eye(2), 1.0, 2.0, 1.0)


def test_shape_mismatch_between_A_and_x_is_refused():
    model = LinearGaussian(np.ones((3, 2)), 1.0)
    with pytest.raises(ValueError, match=r"x must have shape \(n, 3\)"):
        model.posterior(np.ones((5, 4)))


def test_nan_in_x_is_refused():
    with pytest.raises(ValueError, match="x contains NaN"):
        LinearGaussian(np.ones((3, 2)), 1.0).posterior([1.0, np.nan, 0.0])
    gsm = GaussianScaleMixture(np.ones((3, 2)), np.eye(2), 1.0, 2.0, 1.0)
    with pytest.raises(ValueError, match="x contains NaN"):
        gsm.posterior([1.0, np.nan, 0.0])


def test_too_many_units_to_enumerate_is_refused():
    model = BoltzmannMachine(np.zeros((25, 25)), np.zeros(25))
    with pytest.raises(ValueError, match="K = 25 .* too many"):
        model.probabilities()
    model.gibbs(2, np.random.default_rng(0))  # sampling still works


def test_boltzmann_weights_must_be_symmetric_with_zero_diagonal():
    with pytest.raises(ValueError, match="W must be symmetric"):
        BoltzmannMachine(np.array([[0.0, 1.0], [0.0, 0.0]]), np.zeros(2))
    with pytest.raises(ValueError, match="zero diagonal"):
        BoltzmannMachine(np.eye(2), np.zeros(2))


def test_gsm_contrast_prior_must_be_positive():
    with pytest.raises(ValueError, match="contrast_shape"):
        GaussianScaleMixture(np.ones((3, 2)), np.eye(2), 1.0, 0.0, 1.0)


def test_mixture_weights_must_sum_to_one():
    with pytest.raises(ValueError, match="weights"):
        GaussianMixture(np.zeros((2, 1)), np.ones((2, 1, 1)), [0.5, 0.6])


# ---------------------------------------------------------------- properties
@st.composite
def linear_gaussian_models(draw):
    n_obs = draw(st.integers(1, 6))
    n_latent = draw(st.integers(1, 4))
    A = draw(arrays(float, (n_obs, n_latent), elements=st.floats(-3, 3)))
    noise = draw(st.floats(0.05, 5.0))
    return LinearGaussian(A, noise)


@settings(max_examples=50, deadline=None)
@given(model=linear_gaussian_models(), seed=st.integers(0, 2**32 - 1))
def test_linear_gaussian_posterior_properties(model, seed):
    rng = np.random.default_rng(seed)
    _, x = model.sample(3, rng)
    post = model.posterior(x)
    H = model.posterior_precision
    np.testing.assert_allclose(H, H.T, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(H) > 0)
    # The posterior is narrower than the prior in every direction.
    assert np.all(np.linalg.eigvalsh(model.prior_cov - post.cov) > -1e-10)
    np.testing.assert_allclose(post.mean @ H, x @ (model.A / model.noise_std[:, None] ** 2), atol=1e-8)


@settings(max_examples=50, deadline=None)
@given(k=st.integers(1, 5), seed=st.integers(0, 2**32 - 1))
def test_gaussian_kl_is_nonnegative_and_zero_on_itself(k, seed):
    rng = np.random.default_rng(seed)
    factor = rng.normal(size=(k, k))
    cov = factor @ factor.T + 0.1 * np.eye(k)
    mean = rng.normal(size=k)
    assert gaussian_kl(mean, cov, mean, cov) == pytest.approx(0.0, abs=1e-10)
    other = cov + np.diag(rng.uniform(0.1, 1.0, size=k))
    assert gaussian_kl(mean, cov, mean + 0.1, other) > 0


@settings(max_examples=50, deadline=None)
@given(p=arrays(float, 8, elements=st.floats(0, 1)), q=arrays(float, 8, elements=st.floats(0.01, 1)))
def test_discrete_divergences_are_bounded(p, q):
    if p.sum() == 0:
        p = p + 1
    p, q = p / p.sum(), q / q.sum()
    assert discrete_kl(p, q) >= -1e-12
    assert 0 <= total_variation(p, q) <= 1
    # Pinsker: TV <= sqrt(KL / 2)
    assert total_variation(p, q) <= np.sqrt(discrete_kl(p, q) / 2) + 1e-12


@settings(max_examples=30, deadline=None)
@given(k=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_boltzmann_probabilities_are_a_distribution_with_the_right_ratios(k, seed):
    rng = np.random.default_rng(seed)
    W = rng.normal(size=(k, k))
    W = np.triu(W, 1) + np.triu(W, 1).T
    model = BoltzmannMachine(W, rng.normal(size=k))
    p = model.probabilities()
    assert p.shape == (1 << k,) and p.sum() == pytest.approx(1.0)
    states = state_bits(np.arange(1 << k), k)
    log_ratio = model.log_unnormalized(states) - model.log_unnormalized(states[:1])
    np.testing.assert_allclose(np.log(p / p[0]), log_ratio, atol=1e-9)
