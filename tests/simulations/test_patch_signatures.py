"""The natural-image signature figures (patch-contrast, patch-spontaneous) at their quick size,
built from three circuits trained on the GSM learned from 8 x 8 patches (training seeds 1-3),
against the exact posterior of that GSM.

The claims, measured on seeds 1-3 (2026-12-01): both variances fall as contrast rises, the
circuit's more steeply (log change from contrast 0.25 to 4: circuit -2.91 to -2.96, SE 0.51
over patches; posterior -1.79, SE 0.24; circuit minus posterior -1.12 to -1.17, SE 0.37). The
exact GSM predicts Berkes et al.'s ordering (KL of average evoked to spontaneous: natural 0.24,
gratings 0.60-0.72, white noise 2.0-2.1 nats); the circuit does not follow it (natural
1.26-1.33, bootstrap SE 0.9; gratings 0.58-0.69).

False alarms. The patches are fixed (the data), so what varies between reruns is the training
seed and the response samples (and, for the artificial ensembles, their draw): each test's
margin is at least three times, and mostly over ten times, the spread across seeds 1-3 of the
quantity it tests, so its false-alarm rate over seeds is about 1e-3 at worst (Gaussian).
Against the sampling of patches (the SEs above) the tests ask for the variance claims at
2 SE (one-sided 2.3%) or more and for the exact ordering at 3 SE; the circuit's natural-patch
divergence is tested against the exact model's only over seeds, because its bootstrap SE is
as large as the difference (the gallery says so).
"""

import jax.numpy as jnp
import numpy as np
import pytest
from figure_checks import assert_reloads_to_same_plot

from simulations.figures import patch_contrast, patch_spontaneous
from simulations.results import config_of
from simulations.tasks import trained_circuit

SEEDS = (1, 2, 3)


@pytest.fixture(scope="module")
def patches():
    return patch_contrast.figure_patches(quick=True)


@pytest.fixture(scope="module")
def gsm_runs(patches):
    return {seed: patch_contrast.natural_image_gsm_run(seed, quick=True, patches=patches) for seed in SEEDS}


@pytest.fixture(scope="module")
def contrast_figures(gsm_runs):
    return {seed: patch_contrast.build(seed, quick=True, natural_image_results=run) for seed, run in gsm_runs.items()}


@pytest.fixture(scope="module")
def spontaneous_figures(gsm_runs, patches):
    return {seed: patch_spontaneous.build(seed, quick=True, natural_image_results=run, patches=patches)
            for seed, run in gsm_runs.items()}


def test_patch_contrast_data_reload_and_the_simulation_against_the_circuits_exact_variance(
        gsm_runs, contrast_figures, tmp_path):
    """Exact references: the posterior variances are the fitted GSM's (rebuilt from the run
    file), and the sampled response variance matches the circuit's exact variance (from its
    parameters) within 5 SE of the sample variance (false alarm 3e-6 over 5 contrasts)."""
    ds, run = contrast_figures[1], gsm_runs[1]
    assert config_of(ds)["steps"] == 3000 and ds.sizes["contrast"] == len(patch_contrast.CONTRASTS)
    model = patch_contrast.fitted_gsm(run)
    circuit, params, config = trained_circuit(run)
    params = {name: jnp.asarray(value, jnp.float32) for name, value in params.items()}
    samples = config["samples"]
    for i, level in enumerate(patch_contrast.CONTRASTS):
        stimuli = level * run["x"].values
        exact = np.diagonal(model.posterior(stimuli).cov, axis1=1, axis2=2)
        assert float(ds["posterior_variance"][i]) == pytest.approx(exact.mean(), rel=1e-10)
        circuit_variance = np.diagonal(np.asarray(circuit.response_covariance(params, jnp.asarray(stimuli)), float),
                                       axis1=1, axis2=2)
        # Var of a sample variance of n Gaussian draws: 2 sigma^4 / (n - 1), independent over
        # patches and latents (the single-layer circuit's noise is independent across neurons).
        se = np.sqrt(np.sum(2 * circuit_variance**2 / (samples - 1))) / circuit_variance.size
        assert abs(float(ds["response_variance"][i]) - circuit_variance.mean()) < 5 * se, (level, se)
    assert_reloads_to_same_plot(patch_contrast, ds, tmp_path)
    with pytest.raises(ValueError, match="natural_image_results"):
        patch_contrast.build(natural_image_results=contrast_figures[1])


def test_patch_spontaneous_data_and_reload(gsm_runs, patches, spontaneous_figures, tmp_path):
    ds = spontaneous_figures[1]
    assert list(ds["ensemble"].values) == list(patch_spontaneous.ENSEMBLES)
    assert np.all(ds["circuit_kl_se"].values > 0) and np.all(ds["posterior_kl_se"].values > 0)
    blank = patch_contrast.fitted_gsm(gsm_runs[1]).posterior(np.zeros((1, ds.sizes["latent"])))
    np.testing.assert_allclose(ds["posterior_spontaneous_cov"].values, blank.cov[0], rtol=1e-12)
    assert_reloads_to_same_plot(patch_spontaneous, ds, tmp_path)
    with pytest.raises(ValueError, match="together"):
        patch_spontaneous.build(natural_image_results=gsm_runs[1])


def test_variance_falls_with_contrast_and_the_circuits_falls_more_steeply(contrast_figures):
    """Catches a circuit whose noise gate did not train, and one that matches the posterior's
    fall (no excess). Checked by hand on seed 1: after 1 training step instead of 3000 the
    circuit's log variance change is +0.65 (SE 0.11), and the test fails."""
    for seed, ds in contrast_figures.items():
        posterior, response, excess = (float(ds[f"{source}_log_variance_change"])
                                       for source in ("posterior", "response", "excess"))
        assert posterior + 3 * float(ds["posterior_log_variance_change_se"]) < 0, seed
        assert response + 3 * float(ds["response_log_variance_change_se"]) < 0, seed
        assert excess + 2 * float(ds["excess_log_variance_change_se"]) < 0, (seed, excess)
        # At the training contrast the circuit's variance is within 20% of the posterior's
        # (measured 0.91-0.92, SE 0.05).
        at_one = list(patch_contrast.CONTRASTS).index(1.0)
        assert abs(float(ds["variance_ratio"][at_one]) - 1) < 0.2, seed


def test_at_high_contrast_the_circuits_linear_mean_outgrows_the_posteriors(contrast_figures):
    """The RMS mean over patches grows about in proportion to the contrast for the circuit
    (13-fold from 0.25 to 4, seeds 1-3) and less for the posterior (4.9-fold); at contrast 4
    the circuit's is above the posterior's by more than 2 SE of the paired difference over
    patches (measured 0.73, SE 0.31: 2.3 SE, so against patch sampling this is evidence at
    about 1%, not more; over seeds the spread is 0.005). Catches a circuit with a saturating
    mean."""
    for seed, ds in contrast_figures.items():
        excess = float(ds["mean_excess_at_highest"])
        assert excess > 2 * float(ds["mean_excess_at_highest_se"]), (seed, excess)
        circuit, posterior = (ds[f"{source}_mean"].values for source in ("response", "posterior"))
        assert circuit[-1] / circuit[0] > 2 * posterior[-1] / posterior[0], seed
        # For the typical patch the log changes agree (circuit minus posterior -0.17 to -0.24,
        # SE 0.27): within 3 SE (two-sided false alarm 3e-3 per seed if they agree exactly).
        assert abs(float(ds["excess_log_mean_change"])) < 3 * float(ds["excess_log_mean_change_se"]), seed


def test_the_exact_model_predicts_berkes_ordering_and_the_circuit_does_not_follow_it(spontaneous_figures):
    """The exact GSM: average evoked activity is closest to spontaneous activity for natural
    patches (natural < gratings < white noise, each gap over 3 bootstrap SEs in the mean over
    seeds). The circuit: its natural-patch divergence is above the exact model's (tested over
    seeds only; see the module docstring). Catches a circuit or model whose ordering changes."""
    def mean_over_seeds(name):
        return np.mean([ds[name].values for ds in spontaneous_figures.values()], axis=0)

    exact, exact_se = mean_over_seeds("posterior_kl"), mean_over_seeds("posterior_kl_se")
    natural, gratings, noise = range(3)
    for a, b in ((natural, gratings), (gratings, noise)):
        assert exact[b] - exact[a] > 3 * np.hypot(exact_se[a], exact_se[b]), (a, b, exact)
    circuit = np.array([ds["circuit_kl"].values for ds in spontaneous_figures.values()])
    assert np.all(circuit[:, natural] > exact[natural] + 0.5), circuit[:, natural]
    # The circuit's own spontaneous activity: narrower than the exact blank-input posterior
    # (mean variance 0.33 against 0.44, 0.28-0.30 nats apart).
    for ds in spontaneous_figures.values():
        assert float(ds["circuit_spontaneous_variance"]) < 0.9 * float(ds["posterior_spontaneous_variance"])
        assert 0.1 < float(ds["spontaneous_kl"]) < 1.0
