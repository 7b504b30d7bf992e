"""GSM circuits with MLP encoders, scored against the exact mixture posterior per contrast
(issue 18, items 1 and 2).

Measured at the default size (K = 4, D = 8, 3000 steps, 8 test stimuli per contrast 0.25,
0.5, 1, 2, 4), seeds 1-3, mean (SE over seeds):
- mean error (posterior sd): linear encoder 0.49 0.60 0.51 1.76 5.87; MLP encoder 0.18
  (0.02) 0.22 (0.04) 0.29 (0.02) 0.79 (0.07) 2.15 (0.19);
- KL to the exact posterior (nats): linear 1.89 1.85 1.51 3.20 15.2; MLP 0.55 0.76 1.15
  2.30 6.01;
- the best factorised Gaussian's variance ratio 0.83 0.68 0.47 0.29 0.20 (SE <= 0.03).

False alarms: claims are tested on the mean over seeds at 3 SEs of the seed spread, so
one-sided 1e-3 each with a normal spread (t with 2 dof is wider: the bars sit 5-60 SEs
away). The file's metrics are recomputed exactly.
"""

import jax
import numpy as np
import pytest
from cli_checks import assert_refused

from analysis.generative import GaussianScaleMixture
from analysis.gsm_posterior import best_gaussian
from simulations.experiments import CircuitOptions, response_gaussian, run_gsm
from simulations.results import config_of
from simulations.tasks import trained_circuit

SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def runs():
    # samples=20: the metrics tested use the circuit's exact Gaussian, not its samples.
    return {(encoder, seed): run_gsm(seed, encoder=encoder, samples=20, progress=False)
            for encoder in ("linear", "mlp") for seed in SEEDS}


def _model(ds):
    config = config_of(ds)
    return GaussianScaleMixture(ds["A"].values, ds["prior_cov"].values, ds["noise_std"].values,
                                config["contrast_shape"], config["contrast_scale"])


def test_contrast_metrics_recomputed_from_the_file():
    ds = run_gsm(2, encoder="mlp", encoder_width=6, steps=200, n_train=2000, n_test=2, samples=400,
                 gaussian_floors=True, progress=False)
    circuit, params, config = trained_circuit(ds)
    assert (config["encoder"], circuit.encoder, circuit.encoder_width) == ("mlp", "mlp", 6)
    mean, cov = response_gaussian(circuit, params, ds["x"].values)
    np.testing.assert_allclose(ds["circuit_mean"].values, mean, rtol=1e-6)
    np.testing.assert_allclose(ds["model_response_cov"].values, cov, rtol=1e-6)
    # The samples are the circuit's: means within 5 SE (two-sided 6e-7 each, 2e-5 for 40).
    sd = np.sqrt(np.diagonal(cov, axis1=1, axis2=2))
    assert np.all(np.abs(ds["r"].values.mean(1) - mean) < 5 * sd / np.sqrt(400))

    posterior_sd = np.sqrt(np.diagonal(ds["posterior_cov"].values, axis1=1, axis2=2))
    contrast = ds["stimulus_contrast"].values
    for level_index, level in enumerate(ds["contrast_level"].values):
        at = contrast == level
        error = (mean[at] - ds["posterior_mean"].values[at]) / posterior_sd[at]
        assert float(ds["mean_error_by_contrast"][level_index]) == pytest.approx(np.sqrt((error**2).mean()))
        ratio = (np.diagonal(cov[at], axis1=1, axis2=2) / posterior_sd[at] ** 2).mean()
        assert float(ds["variance_ratio_by_contrast"][level_index]) == pytest.approx(ratio)
        assert float(ds["kl_mixture_by_contrast"][level_index]) == pytest.approx(
            ds["kl_mixture_posterior"].values[at].mean())
    # Orderings that must hold: the circuit is a factorised Gaussian, so no better than the
    # best one, which is no better than the best Gaussian (4 combined SEs each).
    kl, kl_se = ds["kl_mixture_posterior"].values, ds["kl_mixture_posterior_se"].values
    factorised, gaussian = ds["best_factorised_kl"].values, ds["best_gaussian_kl"].values
    assert np.all(kl_se > 0)
    assert np.all(kl > factorised - 4 * np.hypot(kl_se, 0.05 * factorised))
    assert np.all(factorised > gaussian - 0.05 * factorised)


def test_the_mlp_encoder_is_closer_to_the_posterior_but_misses_the_mean_bar(runs):
    def by_seed(encoder, name):
        return np.array([runs[encoder, seed][name].values for seed in SEEDS])

    difference = by_seed("linear", "kl_mixture_by_contrast") - by_seed("mlp", "kl_mixture_by_contrast")
    spread = difference.std(0, ddof=1) / np.sqrt(len(SEEDS))
    assert np.all(difference.mean(0) > 3 * spread), difference
    mlp_error = by_seed("mlp", "mean_error_by_contrast")
    levels = runs["mlp", 1]["contrast_level"].values
    at_or_above_1 = levels >= 1
    error_se = mlp_error.std(0, ddof=1) / np.sqrt(len(SEEDS))
    assert np.all(mlp_error.mean(0)[at_or_above_1] - 3 * error_se[at_or_above_1] > 0.15), mlp_error
    assert np.all(mlp_error.mean(0) < by_seed("linear", "mean_error_by_contrast").mean(0))


def test_no_factorised_gaussian_reaches_the_variance_bar_from_contrast_half(runs):
    """A property of the task, not of training: the best factorised Gaussian (the family of a
    circuit with independent noise) under KL(q || p) has variance ratio 0.68 at contrast 0.5
    and less above. Tested at 0.5, on the 8 test stimuli of each seed."""
    ratios = []
    for seed in SEEDS:
        ds = runs["mlp", seed]
        at = ds["stimulus_contrast"].values == 0.5
        x = ds["x"].values[at]
        best = best_gaussian(_model(ds), x, jax.random.PRNGKey(seed), factorised=True)
        posterior_var = np.diagonal(ds["posterior_cov"].values[at], axis1=1, axis2=2)
        ratios.append((np.diagonal(best["cov"], axis1=1, axis2=2) / posterior_var).mean())
    ratios = np.array(ratios)
    assert ratios.mean() + 3 * ratios.std(ddof=1) / np.sqrt(len(SEEDS)) < 0.85, ratios


def test_a_multi_layer_mlp_circuit_has_correlated_input_gated_noise():
    """Seed 1, default size: the hidden noise is gated by the input, so the response
    covariance changes with contrast; measured variance ratio 0.69-0.99 across contrasts,
    against 0.38-0.59 for the single-layer MLP circuit (seed 1); the largest change of a
    mean noise correlation between contrasts 0.25 and 4 was 0.13 (the posterior's 0.38)."""
    ds = run_gsm(1, architecture="multi-layer", encoder="mlp", samples=20, progress=False)
    ratio = ds["variance_ratio_by_contrast"].values
    assert np.all(ratio > 0.5) and np.all(ratio < 1.15), ratio
    correlations = ds["model_response_cov"].values
    correlations = correlations / np.sqrt(np.einsum("nii,njj->nij", correlations, correlations))
    low, high = (ds["stimulus_contrast"].values == c for c in (0.25, 4.0))
    assert np.abs(correlations[low].mean(0) - correlations[high].mean(0)).max() > 0.05


@pytest.mark.parametrize("kwargs, match", [
    (dict(architecture="recurrent", encoder="mlp"), "encoder \\(--encoder\\)"),
    (dict(encoder="mlp", noise_site="both"), "encoder \\(--encoder\\)"),
    (dict(encoder="mlp", encoder_width=0), "encoder_width \\(--encoder-width\\)"),
    (dict(encoder="kernel"), "encoder \\(--encoder\\)"),
])
def test_bad_encoders_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CircuitOptions(**kwargs)


@pytest.mark.parametrize("argv, message", [
    (["--encoder-width", "0"], "--encoder-width"),
    (["--architecture", "recurrent", "--encoder", "mlp"], "--encoder"),
])
def test_bad_encoder_options_are_refused_on_the_command_line(tmp_path, capsys, argv, message):
    out = tmp_path / "gsm.nc"
    assert_refused(["run", "gsm", "--seed", "1", "--out", str(out), *argv], message, out, capsys)
