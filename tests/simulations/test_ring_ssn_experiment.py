"""The ring SSN experiment (issue 18, item 4): the scores against exact values, the spectral
peak on spectra whose peak is known, bad input, divergence, the ring GSM's symmetry, and the
figure's pipeline and claims at the quick size (12 + 12 cells, 150 steps).

The quick-size claims are the ones that hold by construction or by a wide margin (the
no-noise control has no trial-to-trial variance at all; the mean-only control's variance ratio
is below the sampling network's at every contrast); the published-size numbers of the README
are a single seed's and are rerun by ``-m slow``."""

import numpy as np
import pytest

from circuits.learning import TrainingDiverged
from simulations.figures import FIGURES
from simulations.figures.ring_ssn import spectral_peak
from simulations.ring_ssn import correlation_by_offset, fit_by_contrast, run_ring_ssn
from simulations.tasks import ring_gsm_model
from tests.simulations.cli_checks import assert_refused
from tests.simulations.figure_checks import assert_reloads_to_same_plot

QUICK = dict(ring_size=6, n_images=2, test_stimuli=2, test_trials=4, batch_stimuli=4, burn_in=0.01, window=0.02,
             progress=False)


class _Posterior:
    def __init__(self, mean, cov):
        self.mean, self.cov = mean, cov


def test_fit_by_contrast_against_hand_computed_values():
    # two contrast levels x two stimuli, two latents; posterior variances 4 and 1
    posterior_cov = np.array([[[4.0, 1.0], [1.0, 1.0]]] * 4)
    posterior = _Posterior(np.zeros((4, 2)), posterior_cov)
    mean = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]])  # errors of 1 sd on level 0
    cov = np.array([[[4.0, 0.0], [0.0, 1.0]], [[4.0, 0.0], [0.0, 1.0]],
                    [[8.0, 1.0], [1.0, 2.0]], [[2.0, 3.0], [3.0, 0.5]]])
    fit = fit_by_contrast(posterior, mean, cov, 2)
    np.testing.assert_allclose(fit["mean_error"], [np.sqrt(2 / 4), 0.0])
    np.testing.assert_allclose(fit["variance_ratio"], [1.0, (2 + 2 + 0.5 + 0.5) / 4])
    np.testing.assert_allclose(fit["covariance_error"], [1.0, (0.0 + 2.0) / 2])
    np.testing.assert_allclose(fit["posterior_variance"], [2.5, 2.5])
    assert np.all(np.isnan(fit["mean_slope"]))  # the posterior means do not vary: no slope
    # two cells: offset 1 is the pair's correlation, 1/2 for the posterior; the responses' is 0
    # and 0 on level 0, and 1/4 and 3 (not a covariance, but the formula's) on level 1
    np.testing.assert_allclose(fit["posterior_correlation"], [[1.0, 0.5], [1.0, 0.5]])
    np.testing.assert_allclose(fit["response_correlation"], [[1.0, 0.0], [1.0, (0.25 + 3.0 / np.sqrt(1.0)) / 2]])


def test_correlation_by_offset_on_a_ring_of_four():
    # an exponential correlation on the ring, rho^(ring distance), with unequal sds
    distance = np.array([[0, 1, 2, 1], [1, 0, 1, 2], [2, 1, 0, 1], [1, 2, 1, 0]])
    sd = np.array([1.0, 2.0, 0.5, 3.0])
    cov = (0.6**distance * np.outer(sd, sd))[None]
    np.testing.assert_allclose(correlation_by_offset(cov), [1.0, 0.6, 0.36])


def test_mean_slope_is_the_least_squares_slope_within_each_level():
    posterior_mean = np.array([[1.0, 2.0], [3.0, -4.0], [0.5, 1.5], [2.0, 0.0]])
    posterior = _Posterior(posterior_mean, np.tile([[1.0, 0.5], [0.5, 1.0]], (4, 1, 1)))
    mean = np.concatenate([0.5 * posterior_mean[:2] + 1.0,  # shrunk by half and shifted
                           posterior_mean[2:] + np.array([[0.1, -0.1], [-0.1, 0.1]])])
    fit = fit_by_contrast(posterior, mean, np.tile(np.eye(2), (4, 1, 1)), 2)
    deviation = posterior_mean[2:].ravel() - posterior_mean[2:].mean()
    exact = 1.0 + np.sum(deviation * np.array([0.1, -0.1, -0.1, 0.1])) / np.sum(deviation**2)
    np.testing.assert_allclose(fit["mean_slope"], [0.5, exact])


def test_spectral_peak_finds_a_known_peak_and_refuses_spectra_without_one():
    frequencies = np.arange(0.0, 200.0, 3.9)
    gaussian_peak = np.exp(-((frequencies - 41.3) ** 2) / 60.0)  # log is a parabola: the vertex is exact
    assert spectral_peak(frequencies, gaussian_peak) == pytest.approx(41.3, abs=1e-6)
    assert np.isnan(spectral_peak(frequencies, 1.0 / (1.0 + frequencies**2)))  # low-pass: no peak
    outside = np.exp(-((frequencies - 120.0) ** 2) / 60.0) + 1e-9
    assert np.isnan(spectral_peak(frequencies, outside))


def test_ring_gsm_is_rotation_symmetric():
    model = ring_gsm_model(ring_size=8, patch_size=13)
    # one step round the ring is a rotation by pi / 8: the prior is circulant ...
    np.testing.assert_allclose(np.roll(model.prior_cov, (1, 1), axis=(0, 1)), model.prior_cov, atol=1e-12)
    # ... and the filters' overlaps A^T A nearly so (pixel grids are not rotation invariant)
    gram = model.A.T @ model.A
    np.testing.assert_allclose(np.diag(gram), 1.0)
    assert np.max(np.abs(np.roll(gram, (1, 1), axis=(0, 1)) - gram)) < 0.05


@pytest.mark.parametrize("kwargs, message", [
    (dict(ring_size=1), "ring_size"),
    (dict(contrast_levels=(0.5, -1.0)), "contrast_levels"),
    (dict(objective="variance"), "objective"),
    (dict(learning_rate=0.0), "learning_rate"),
    (dict(input_stage="tied"), "input_stage"),
])
def test_bad_input_is_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_ring_ssn(1, steps=1, **{**QUICK, **kwargs})


@pytest.mark.parametrize("options, message", [
    (["--ring-size", "1"], "argument --ring-size: must be >= 2"),
    (["--contrasts", "0.5", "-1"], "argument --contrasts: must be >= 0"),
    (["--steps", "0"], "argument --steps: must be >= 1"),
    (["--input-stage", "tied"], "argument --input-stage: invalid choice"),
])
def test_bad_options_are_refused_before_any_work(tmp_path, capsys, options, message):
    out = tmp_path / "ring.nc"
    assert_refused(["run", "ring-ssn", "--seed", "1", "--quiet", "--out", str(out), *options], message, out, capsys)


def test_the_input_stage_and_noise_options_train_and_reload(tmp_path):
    """Two Adam steps move the profile, the normalisation energy and the private noise sds; the
    fixed filters come back from the file bitwise equal to their start, 2 mV per latent unit
    times the GSM's filters A^T. (One run checks every option's round trip: a run costs about
    25 s of the suite.)"""
    from circuits.ring_ssn import INPUT_STAGES
    from simulations.cli import build_parser
    from simulations.results import load, save
    from simulations.ring_ssn import _INITIAL_FILTER_GAIN, trained_ring_ssn

    path = tmp_path / "ring.nc"
    save(run_ring_ssn(1, steps=2, input_stage="ring", divisive_normalisation=True, private_noise=True, **QUICK),
         path)
    ssn, params, model, config = trained_ring_ssn(load(path))
    assert ssn.input_stage == config["input_stage"] == "ring"
    assert ssn.divisive_normalisation and config["divisive_normalisation"]
    assert abs(float(params["log_normalisation_energy"]) - np.log(10.0)) > 1e-4
    assert ssn.private_noise and config["private_noise"]
    assert np.all(np.abs(np.asarray(params["log_private_noise_std"]) - np.log(0.5)) > 1e-4)
    np.testing.assert_array_equal(params["filters"], np.float32(_INITIAL_FILTER_GAIN * model.A.T))
    profile = np.asarray(params["filter_profile"])
    assert profile.shape == (QUICK["ring_size"] // 2 + 1,) and np.any(profile != np.eye(1, profile.size)[0])
    # the command line offers every stage the circuit has
    for stage in INPUT_STAGES:
        options = ["run", "ring-ssn", "--seed", "1", "--out", "f.nc", "--input-stage", stage]
        assert build_parser().parse_args(options).input_stage == stage
    options = build_parser().parse_args(["run", "ring-ssn", "--seed", "1", "--out", "f.nc",
                                         "--divisive-normalisation", "--private-noise"])
    assert options.divisive_normalisation and options.private_noise


def test_divergent_training_names_the_step():
    """A learning rate of 1e4 throws the log-weights to overflow at the first update."""
    with pytest.raises(TrainingDiverged, match=r"diverged at step \d+: loss terms"):
        run_ring_ssn(1, steps=20, learning_rate=1e4, **QUICK)


@pytest.fixture(scope="module")
def quick_figure():
    return FIGURES["ring-ssn"].build(seed=1, quick=True)


def test_ring_figure_data_and_reload(tmp_path, quick_figure):
    ds = quick_figure
    assert list(ds["network"].values) == ["sampling", "mean-only", "no-noise"]
    assert list(ds["contrast"].values) == [0.0, 0.25, 0.5, 1.0, 2.0]
    assert ds["mean_potential"].attrs["units"] == "mV" and ds["peak_frequency"].attrs["units"] == "Hz"
    assert_reloads_to_same_plot(FIGURES["ring-ssn"], ds, tmp_path)


def test_no_noise_control_has_no_trial_to_trial_variability(quick_figure):
    # trials differ only by float32 rounding in the batched products (variance ~1e-12 mV^2)
    assert np.all(quick_figure["potential_variance"].sel(network="no-noise").values < 1e-9)
    assert np.all(quick_figure["potential_variance"].sel(network="sampling").values > 0.1)


def test_mean_only_control_is_less_variable_than_the_posterior_asks(quick_figure):
    """Nothing asks the control for variability: its variance ratio is below the sampling
    network's at every contrast (quick size, seeds 1-3: 0.08-0.14 against 0.54-1.11 on seed 1,
    at most 0.18 times the sampling network's on any seed and contrast)."""
    ratio = quick_figure["variance_ratio"]
    assert np.all(ratio.sel(network="mean-only").values < 0.5 * ratio.sel(network="sampling").values)


@pytest.mark.slow
def test_published_size_claims_on_seed_1():
    """The README's ring-ssn table at the published size, seed 1 (about 40 min). Margins from
    the spread of seeds 1-3 (about 3 seed sds, since a rerun on another machine follows
    another rounding path through training): what is claimed, not the exact digits."""
    ds = FIGURES["ring-ssn"].build(seed=1)
    sampling, mean_only, no_noise = (ds.sel(network=name) for name in ("sampling", "mean-only", "no-noise"))
    peak = sampling["peak_frequency"].values
    assert np.isnan(peak[0]) and np.all(np.diff(peak[1:]) > 0) and np.all((peak[1:] > 20) & (peak[1:] < 80))
    assert np.all(np.isnan(mean_only["peak_frequency"].values))
    assert np.all(np.diff(sampling["overshoot"].values) > 0)
    assert sampling["potential_variance"].values[-1] < 0.6 * sampling["potential_variance"].values[0]
    # the moment bars are missed, by the reported margins
    assert np.all((sampling["variance_ratio"].values > 0.45) & (sampling["variance_ratio"].values < 0.95))
    assert np.all((sampling["mean_error"].values > 0.25) & (sampling["mean_error"].values < 1.1))
    assert np.all(mean_only["variance_ratio"].values < 0.05)
    assert np.all(no_noise["potential_variance"].values < 1e-9)


@pytest.mark.slow
def test_the_ring_input_stage_does_not_over_fit_and_still_misses_the_moment_bars():
    """The README's ``--input-stage ring`` claims, seed 1 at the published size (about 11 min
    alone). Seeds 1-3 measured: held-out mean error 0.31-1.36 sd and variance ratio 0.54-0.76;
    on 10 training latents per contrast 0.28-1.08 sd. Margins of about 3 seed sds, as above:
    the bars stay missed, and the error on training stimuli is no smaller than on held-out
    ones by more than 0.45 sd at any contrast. Ten latents per contrast make that gap noisy
    (seeds 2 and 3 at c = 2: +0.32 and -0.36 sd); free filters trained on 20 latents missed by
    0.5-1.5 sd more on held-out ones, the over-fitting this rules out."""
    import jax

    from simulations.ring_ssn import response_moments, ring_task_data, trained_ring_ssn

    ds = run_ring_ssn(1, input_stage="ring", progress=False)
    held_out = ds["mean_error_by_contrast"].values
    assert np.all((held_out > 0.2) & (held_out < 1.6))
    assert np.all((ds["variance_ratio_by_contrast"].values > 0.4) & (ds["variance_ratio_by_contrast"].values < 0.9))
    ssn, params, model, config = trained_ring_ssn(ds)
    levels = np.asarray(config["contrast_levels"])
    _, x_train, _ = ring_task_data(1, config["ring_size"], config["patch_size"], config["noise_std"], levels,
                                   config["n_images"], config["test_stimuli"])
    x = x_train[np.concatenate([level * config["n_images"] + np.arange(10) for level in range(len(levels))])]
    steps = int(round(config["burn_in"] / config["dt"])), int(round(config["window"] / config["dt"]))
    mean, cov = response_moments(ssn, params, x, jax.random.PRNGKey(99), config["test_trials"], *steps)
    on_training = fit_by_contrast(model.posterior(x), mean, cov, len(levels))["mean_error"]
    assert np.all(on_training > held_out - 0.45)


@pytest.mark.slow
def test_normalisation_and_private_noise_fix_their_failures_but_not_the_bars():
    """The README's claims for ``--divisive-normalisation --private-noise``, seed 1 at the
    published size (about 11 min alone). Seeds 1-3 measured: mean slope 0.70-0.94 (free
    filters: 0.34-0.54 at c <= 0.5), neighbour correlation 0.42-0.75 falling with contrast
    (free filters: 0.80-0.90 at every contrast), mean error 0.29-0.63 sd, variance ratio
    0.65-0.89. Margins of about 3 seed sds, as above."""
    ds = run_ring_ssn(1, divisive_normalisation=True, private_noise=True, progress=False)
    assert np.all(ds["mean_slope_by_contrast"].values > 0.6)
    neighbour = ds["response_correlation_by_offset"].values[:, 1]
    assert np.all(np.diff(neighbour) < 0) and neighbour[-1] < 0.6 and neighbour[0] < 0.85
    mean_error, variance_ratio = ds["mean_error_by_contrast"].values, ds["variance_ratio_by_contrast"].values
    assert np.all((mean_error > 0.15) & (mean_error < 0.9)) and mean_error.max() > 0.2
    assert np.all((variance_ratio > 0.5) & (variance_ratio < 1.05))  # 0.73 on seed 1: too near 0.75 to test
