"""Maximum-likelihood linear-Gaussian models: pPCA against its eigen solution, factor analysis
against scikit-learn's implementation, which works on the data rather than on their second moment."""

import numpy as np
import pytest

from analysis.linear_models import factor_analysis_cov, gaussian_loglik, ml_marginal_cov


def test_ml_ppca_matches_its_eigen_solution_and_the_full_covariance_when_overcomplete():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(4000, 5)) @ rng.normal(size=(5, 5))
    second = data.T @ data / len(data)
    cov = ml_marginal_cov(data, 2)
    eigenvalues = np.sort(np.linalg.eigvalsh(second))[::-1]
    np.testing.assert_allclose(np.sort(np.linalg.eigvalsh(cov))[::-1],
                               np.r_[eigenvalues[:2], np.full(3, eigenvalues[2:].mean())], rtol=1e-10)
    np.testing.assert_allclose(ml_marginal_cov(data, 5), second)


def _factor_data(rng, n=20_000, n_obs=8, n_factors=3):
    loadings = rng.normal(size=(n_obs, n_factors))
    noise_sd = rng.uniform(0.5, 2.0, n_obs)
    data = rng.normal(size=(n, n_factors)) @ loadings.T + rng.normal(size=(n, n_obs)) * noise_sd
    return data - data.mean(axis=0), loadings @ loadings.T + np.diag(noise_sd**2)


def test_factor_analysis_matches_scikit_learn_and_beats_the_generating_covariance(rng):
    from sklearn.decomposition import FactorAnalysis

    data, generating_cov = _factor_data(rng)  # centred, so sklearn's fitted mean is exactly zero
    cov = ml_marginal_cov(data, 3, noise="diagonal")
    reference = FactorAnalysis(n_components=3, tol=1e-10, max_iter=100_000, svd_method="lapack").fit(data)
    np.testing.assert_allclose(cov, reference.get_covariance(), atol=1e-5 * np.abs(cov).max())
    # The maximum of the likelihood is at least the likelihood of the covariance that made the data.
    assert np.mean(gaussian_loglik(data, cov)) >= np.mean(gaussian_loglik(data, generating_cov))


@pytest.mark.parametrize("second_moment, match", [
    (np.ones((2, 3)), "square"),
    (np.diag([1.0, 0.0, 2.0]), "positive diagonal"),
    (np.full((2, 2), np.nan), "second_moment"),
])
def test_factor_analysis_refuses_a_bad_second_moment(second_moment, match):
    with pytest.raises(ValueError, match=match):
        factor_analysis_cov(second_moment, 1)
