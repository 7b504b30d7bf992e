"""NUTS reference posteriors against exact posteriors, and the sampling floor of their KL.

(NUTS on a GSM, against its quadrature posterior, is tested on a GSM fitted to image patches:
tests/simulations/test_natural_images.py.)

False alarms: the KL between the moment-matched Gaussians of a sample and of the exact
posterior is, from sampling error alone, about a chi-square with K + K (K + 1) / 2 = 14
degrees of freedom (K = 4) scaled to mean ``moment_kl_floor``. The bar, 3 x the floor, is that
chi-square above 42: probability 1e-4 per observation, 2e-4 for the two compared here, if
NUTS is exact. A sampler with the wrong target fails by orders of magnitude: a 20% error in
the noise sd gives KL of 0.1 nats against a floor of 0.003. The floor itself is checked on
independent Gaussian draws against its mean over 4000 replicates (5 SE). Seeds are fixed."""

import numpy as np
import pytest

from analysis.compare import gaussian_kl
from analysis.generative import SparseCoding
from analysis.nuts import ESS_BAR, RHAT_BAR, moment_kl_floor, nuts_posterior

K = 4
A = np.linalg.qr(np.random.default_rng(0).normal(size=(6, K)))[0]


def _check_against(sampled, mean, cov):
    kl = gaussian_kl(sampled.mean, sampled.cov, mean, cov)
    floor = moment_kl_floor(K, sampled.ess_bulk.min(1), sampled.ess_second.min(1))
    assert np.all(kl < 3 * floor), (kl, floor)
    assert np.all(sampled.rhat < RHAT_BAR) and np.all(sampled.ess_bulk > ESS_BAR)
    assert np.all(sampled.converged)


def test_nuts_on_the_sparse_model_matches_its_factorised_posterior():
    model = SparseCoding(A, noise_std=0.3, prior="laplace", prior_scale=1.0)
    _, x = model.sample(2, np.random.default_rng(1))
    sampled = nuts_posterior(model, x, seed=1, n_chains=4, n_draws=2000, n_warmup=500)
    exact = model.factorised_posterior(x)
    _check_against(sampled, exact.mean, exact.cov)
    assert sampled.mean.shape == (2, K) and sampled.divergences.shape == (2,)


def test_the_kl_floor_is_the_mean_kl_of_independent_draws():
    rng = np.random.default_rng(3)
    cov = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, -0.3], [0.0, -0.3, 2.0]])
    n_draws, replicates = 400, 4000
    draws = rng.multivariate_normal(np.zeros(3), cov, size=(replicates, n_draws))
    means = draws.mean(1)
    centred = draws - means[:, None, :]
    covs = np.einsum("rni,rnj->rij", centred, centred) / (n_draws - 1)
    kl = gaussian_kl(means, covs, np.zeros(3), cov)
    # Finite-n corrections are O(1 / n^2): a few per cent of the floor at n = 400.
    assert abs(kl.mean() - moment_kl_floor(3, n_draws)) < 5 * kl.std() / np.sqrt(replicates) + 0.03 * kl.mean()


def test_bad_arguments_are_named():
    model = SparseCoding(A, 0.3)
    x = np.zeros((1, 6))
    with pytest.raises(ValueError, match="n_chains"):
        nuts_posterior(model, x, seed=0, n_chains=1)
    with pytest.raises(ValueError, match="target_accept"):
        nuts_posterior(model, x, seed=0, target_accept=1.0)
    with pytest.raises(ValueError, match="x must have shape"):
        nuts_posterior(model, np.zeros((1, 5)), seed=0)
    with pytest.raises(ValueError, match="model"):
        nuts_posterior("gsm", x, seed=0)
    with pytest.raises(ValueError, match="ess_mean"):
        moment_kl_floor(3, 0.0)
