"""Gabor fits against Gabor functions with known parameters, with and without pixel noise.

The noisy case is statistical: with white noise of sd s on N pixels, the least-squares
residual is about s^2 chi-square(N - 9), so R^2 = 1 - SSE / SST is compared with its
expected value within 5 SE of SSE (SE = s^2 sqrt(2 (N - 9))): two-sided false alarm 6e-7
per fit. Everything else is exact to the optimiser's tolerance."""

import numpy as np
import pytest

from analysis.gabor import fit_gabor, fit_gabors, gabor, gabor_jacobian, orientation_coverage

TRUE = {"amplitude": 1.3, "column": 6.2, "row": 8.1, "theta": 0.7, "frequency": 0.18, "phase": 1.0,
        "sigma_x": 2.0, "sigma_y": 3.0, "offset": 0.05}


def test_the_analytic_jacobian_matches_central_differences():
    """Central differences with step h err by O(h^2) ~ 1e-10 here, far below the 1e-7 bar."""
    parameters = np.array([1.3, 3.2, 4.1, 0.7, 0.18, 0.4, 1.6, 2.2, 0.1])
    step = 1e-5
    numeric = np.stack([(gabor((8, 9), *(parameters + step * e)) - gabor((8, 9), *(parameters - step * e))).ravel()
                        / (2 * step) for e in np.eye(9)], axis=1)
    np.testing.assert_allclose(gabor_jacobian((8, 9), *parameters), numeric, atol=1e-7)


def test_a_gabor_is_recovered_exactly():
    image = gabor((16, 16), **TRUE)
    fit = fit_gabor(image)
    assert fit.r_squared > 1 - 1e-10
    np.testing.assert_allclose(fit.fitted, image, atol=1e-6)
    # The parameters are defined up to (theta, phase) -> (theta + pi, -phase) and a sign of
    # the amplitude (phase + pi); the orientation modulo pi, frequency, centre and widths are not.
    assert fit.orientation == pytest.approx(TRUE["theta"], abs=1e-6)
    for name in ("frequency", "column", "row", "sigma_x", "sigma_y", "offset"):
        assert getattr(fit, name) == pytest.approx(TRUE[name], abs=1e-6), name


@pytest.mark.parametrize("theta", [0.0, np.pi / 2, 2.5])
def test_noisy_gabors_have_the_r_squared_the_noise_allows(theta):
    rng = np.random.default_rng(int(theta * 100))
    clean = gabor((16, 16), **{**TRUE, "theta": theta})
    noise_sd = 0.1
    image = clean + noise_sd * rng.standard_normal(clean.shape)
    fit = fit_gabor(image)
    total = ((image - image.mean()) ** 2).sum()
    dof = image.size - 9
    expected = 1 - noise_sd**2 * dof / total
    assert abs(fit.r_squared - expected) < 5 * noise_sd**2 * np.sqrt(2 * dof) / total
    assert abs(np.angle(np.exp(2j * (fit.orientation - theta)))) / 2 < 0.05  # orientation modulo pi, radians


def test_what_is_not_a_gabor_fits_poorly():
    """Two Gabors at orthogonal orientations in opposite corners: one Gabor explains about
    half the pixel variance, not most of it."""
    image = (gabor((16, 16), **{**TRUE, "column": 4.0, "row": 4.0, "theta": 0.0})
             + gabor((16, 16), **{**TRUE, "column": 11.0, "row": 11.0, "theta": np.pi / 2}))
    assert fit_gabor(image).r_squared < 0.7


def test_fit_gabors_reads_columns_row_major():
    image = gabor((6, 9), **{**TRUE, "column": 4.0, "row": 2.5, "sigma_x": 1.5, "sigma_y": 1.5})
    fits = fit_gabors(np.stack([image.ravel(), -image.ravel()], axis=1), (6, 9))
    assert len(fits) == 2 and all(fit.r_squared > 1 - 1e-8 for fit in fits)
    np.testing.assert_allclose(fits[1].fitted, -image, atol=1e-6)


def test_orientation_coverage_counts_bins_centred_on_multiples_of_pi_over_n():
    counts = orientation_coverage([0.0, np.pi - 0.01, np.pi / 4, np.pi / 2 + 0.1, 3.0], n_bins=4)
    np.testing.assert_array_equal(counts, [3, 1, 1, 0])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="constant"):
        fit_gabor(np.ones((5, 5)))
    with pytest.raises(ValueError, match="3 x 3"):
        fit_gabor(np.ones((2, 5)))
    with pytest.raises(ValueError, match="filters must have 36 rows"):
        fit_gabors(np.ones((35, 2)), (6, 6))
    with pytest.raises(ValueError, match="image"):
        fit_gabor(np.full((4, 4), np.nan))
