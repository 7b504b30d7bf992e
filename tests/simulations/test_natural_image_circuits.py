"""`sampling-circuits run natural-images`: circuits trained on whitened patches under a model
learned from them, their basis functions beside ICA's and a random control, and the refusals.

The Gabor claim's bar was set from three training seeds (median R^2 0.954, 0.953, 0.967 after
the default 15000 steps; sd 0.008): 0.9 is 7 seed sds below their mean (one-sided Gaussian
false alarm 1e-12). The same circuit after 3000 steps scored 0.807, after 1 step 0.751; the
random control 0.787-0.854 and ICA 0.957-0.970 on those seeds. The rest is recomputed exactly."""

import numpy as np
import pytest
from figure_checks import assert_reloads_to_same_plot

from simulations.cli import main
from simulations.figures import receptive_fields
from simulations.natural_image_circuits import run_natural_images
from simulations.natural_images import laplace_scale, make_patches
from simulations.results import config_of, load, save

# The receptive-field figure's quick size: the claim is checked on what --quick draws.
SIZE, COMPONENTS, LATENTS, PATCHES, TRAIN_PATCHES = receptive_fields.SIZES[True]


@pytest.fixture(scope="module")
def patches(tmp_path_factory):
    path = tmp_path_factory.mktemp("patches") / "patches.nc"
    save(make_patches(receptive_fields.PATCH_SEED, size=SIZE, n_patches=PATCHES, n_components=COMPONENTS), path)
    return path


@pytest.mark.parametrize("kwargs, match", [
    (dict(model="ica"), "model"),
    (dict(model="gsm", n_latent=8), "n_latent \\(8\\) must equal the components used \\(16\\)"),
    (dict(learn_precision=True), "--learn-precision"),
    (dict(n_components=17), "n_components must be at most the file's 16"),
    (dict(n_train=11_990, n_test=16), "exceeds the file's 12000 patches"),
    (dict(active_fraction=1.0), "active_fraction"),
    (dict(noise_std=2.0), "noise_std 2.0 explains all the data's variance"),
    (dict(prior="cauchy"), "prior must be one of"),
    (dict(prior="student-t"), "--learn-decoder"),
    (dict(prior="student-t", model="gsm", n_latent=16, learn_decoder=True), "--model sparse"),
    (dict(prior="student-t", learn_decoder=True, prior_dof=2.0), "prior_dof"),
    (dict(fit_noise=True), "fit_noise \\(--fit-noise\\) is for --model gsm"),
])
def test_bad_options_are_refused_before_training(patches, kwargs, match):
    with pytest.raises(ValueError, match=match):
        run_natural_images(1, load(patches), **{"n_train": 10_000, **kwargs})


def test_the_command_refuses_a_file_that_is_not_patches(tmp_path, capsys):
    from simulations.results import new_dataset, variable

    not_patches = save(new_dataset({"value": variable((), 1.0, "1")}, None, {"seed": 1, "experiment": "gsm"}, "gsm"),
                       tmp_path / "gsm.nc")
    assert main(["run", "natural-images", "--patches", str(not_patches), "--seed", "1",
                 "--out", str(tmp_path / "o.nc")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("error:") and "gsm" in error and not (tmp_path / "o.nc").exists()


@pytest.fixture(scope="module")
def sparse_run(patches, tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "sparse.nc"
    assert main(["run", "natural-images", "--patches", str(patches), "--latents", str(LATENTS), "--learn-decoder",
                 "--train-patches", str(TRAIN_PATCHES), "--test-stimuli", "4", "--samples", "100",
                 "--reference-draws", "1000", "--seed", "1", "--out", str(out), "--quiet"]) == 0
    return load(out)


def test_the_learned_dictionary_and_its_pixel_images_rebuild_from_the_patch_file(patches, sparse_run):
    """Recomputed from the files alone: unit-norm decoder columns (the constraint), their pixel
    images through the patch file's de-whitening matrix, ICA's basis functions on the same
    training patches, and two of the Gabor fits."""
    from analysis.gabor import fit_gabor
    from analysis.gsm_fit import ica_filters

    patch_file, ds = load(patches), sparse_run
    np.testing.assert_allclose(np.linalg.norm(ds["decoder"].values, axis=0), 1.0, rtol=1e-6)  # trained in float32
    dewhitening = patch_file["dewhitening_matrix"].values
    np.testing.assert_allclose(ds["basis_functions"].values, dewhitening @ ds["decoder"].values, rtol=1e-12)
    train = patch_file["whitened"].values[:10_000].astype(float)
    np.testing.assert_allclose(ds["ica_basis_functions"].values, dewhitening @ ica_filters(train, 1), atol=1e-10)
    for unit in (0, 5):
        fit = fit_gabor(ds["basis_functions"].values[:, unit].reshape(8, 8))
        assert fit.r_squared == pytest.approx(float(ds["gabor_r_squared"][unit]), abs=1e-9)
    active = ds["active"].values
    assert float(ds["median_gabor_r_squared"]) == pytest.approx(np.median(ds["gabor_r_squared"].values[active]))
    assert int(ds["orientation_coverage"].sum()) == int(active.sum()) == int(ds["active_units"])


@pytest.fixture(scope="module")
def gabor_seed_runs(sparse_run):
    """The run behind the Gabor claim on training seeds 1-3: seed 1 through the command (with
    its NUTS reference), seeds 2 and 3 as the receptive-field figure trains them (no reference;
    the claim is about the basis functions)."""
    return {1: sparse_run, **{seed: receptive_fields.natural_image_run(seed, quick=True) for seed in (2, 3)}}


def test_a_learned_dictionary_is_gabor_like_beyond_the_random_control(gabor_seed_runs):
    """The README's claim at its size (8 x 8 patches, 16 components, K = 16, default training)
    on three training seeds: in each, the median Gabor R^2 of the active units' basis
    functions is above 0.9 and above the random control's (bar and false-alarm rate, 3e-12
    for the three, in the module docstring). Catches an undertrained dictionary (3000 steps:
    0.807)."""
    for seed, ds in gabor_seed_runs.items():
        assert config_of(ds)["steps"] == 15_000 and config_of(ds)["patch_size"] == SIZE
        median = float(ds["median_gabor_r_squared"])
        assert median > 0.9, (seed, median)
        assert median > float(ds["control_median_gabor_r_squared"]), seed


def test_the_receptive_field_figure_draws_the_run_and_refuses_other_files(patches, sparse_run, tmp_path):
    module = receptive_fields
    ds = module.build(seed=1, quick=True, natural_image_results=sparse_run)
    for name in ("basis_functions", "ica_basis_functions", "gabor_r_squared", "gabor_orientation", "active",
                 "orientation_coverage", "median_gabor_r_squared", "control_median_gabor_r_squared"):
        np.testing.assert_array_equal(ds[name].values, sparse_run[name].values)
    assert config_of(ds)["steps"] == 15_000 and config_of(ds)["patch_size"] == SIZE
    assert_reloads_to_same_plot(module, ds, tmp_path)
    with pytest.raises(ValueError, match="natural_image_results"):
        module.build(natural_image_results=load(patches))


def test_the_sparse_reference_posterior_is_converged_nuts_of_the_learned_model(patches, sparse_run):
    """The reference is NUTS on the model the circuit decodes with, rebuilt here from the file
    (its learned dictionary, the noise, the Laplace scale recomputed from the training patches),
    and its diagnostics are within the bars of ``analysis.nuts``: R-hat < 1.01, bulk ESS > 400,
    no divergence."""
    from analysis.generative import SparseCoding
    from analysis.nuts import nuts_posterior

    ds, config = sparse_run, config_of(sparse_run)
    assert float(ds["reference_rhat_max"]) < 1.01 and float(ds["reference_ess_bulk_min"]) > 400
    assert int(ds["reference_divergences"]) == 0
    train = load(patches)["whitened"].values[:10_000].astype(float)
    assert config["prior_scale"] == pytest.approx(laplace_scale(train, 16, 0.3), rel=1e-12)
    model = SparseCoding(ds["decoder"].values, config["noise_std"], "laplace", config["prior_scale"])
    again = nuts_posterior(model, ds["x"].values, 1, n_draws=1000, n_warmup=1000)
    np.testing.assert_allclose(ds["reference_mean"].values, again.mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ds["reference_cov"].values, again.cov, rtol=1e-9, atol=1e-12)


def test_a_student_t_circuit_pays_its_prior_and_is_compared_with_nuts_on_the_t_model(patches, tmp_path):
    """--sparse-prior student-t, from the command: the circuit pays the t prior's negative log
    (the objective's term is tested against quadrature in tests/circuits/test_learning.py), the
    scale matches the data's variance, and the reference is NUTS on the t model the file
    describes, rebuilt here bit for bit (a Laplace reference would differ)."""
    from analysis.generative import SparseCoding
    from analysis.nuts import nuts_posterior
    from simulations.natural_images import student_t_scale

    out = tmp_path / "t.nc"
    assert main(["run", "natural-images", "--patches", str(patches), "--latents", "4", "--components", "4",
                 "--learn-decoder", "--sparse-prior", "student-t", "--prior-dof", "4", "--steps", "100",
                 "--train-patches", "2000", "--test-stimuli", "2", "--samples", "20", "--reference-draws", "200",
                 "--seed", "2", "--out", str(out), "--quiet"]) == 0
    ds, config = load(out), config_of(load(out))
    assert (config["prior"], config["prior_dof"]) == ("student-t", 4.0)
    train = load(patches)["whitened"].values[:2000, :4].astype(float)
    assert config["prior_scale"] == pytest.approx(student_t_scale(train, 4, 0.3, 4.0), rel=1e-12)
    np.testing.assert_allclose(np.linalg.norm(ds["decoder"].values, axis=0), 1.0, rtol=1e-6)
    model = SparseCoding(ds["decoder"].values, config["noise_std"], "student-t", config["prior_scale"], 4.0)
    again = nuts_posterior(model, ds["x"].values, 2, n_draws=200, n_warmup=200)
    np.testing.assert_allclose(ds["reference_mean"].values, again.mean, rtol=1e-9, atol=1e-12)


def _assert_the_file_rebuilds_the_circuit_and_its_responses(ds):
    """The stored configuration and parameters rebuild the circuit, whose responses to the
    held-out patches, from the run's test key, come out the same again."""
    import jax
    import jax.numpy as jnp

    from simulations.experiments import _sample_responses
    from simulations.tasks import circuit_options_of, trained_circuit

    circuit, params, config = trained_circuit(ds)
    again = _sample_responses(circuit, {name: jnp.asarray(value, jnp.float32) for name, value in params.items()},
                              jnp.asarray(ds["x"].values), jax.random.split(jax.random.PRNGKey(config["seed"]))[1],
                              circuit_options_of(config))["responses"]
    np.testing.assert_array_equal(np.asarray(again, dtype=float), ds["r"].values)


@pytest.mark.parametrize("model, architecture, charge", [
    ("sparse", "multi-layer", "local"), ("sparse", "recurrent", "local"), ("gsm", "multi-layer", "responses"),
    ("gsm", "single-layer", "local")])
def test_every_architecture_and_charge_trains_on_patches_and_rebuilds_from_its_file(patches, model, architecture,
                                                                                   charge):
    """The architectures and charges beyond the figures' (single-layer and recurrent under the
    response-entropy charge), at a wiring size: each trains, records which case it is in, and
    rebuilds from its file."""
    ds = run_natural_images(2, load(patches), model=model, n_latent=6, n_components=6, n_train=3000, n_test=2,
                            steps=20, samples=20, n_reference_draws=0, architecture=architecture, charge=charge,
                            progress=False)
    config = config_of(ds)
    assert (config["model"], config["architecture"], config["charge"]) == (model, architecture, charge)
    assert ("hidden" in ds.dims) == (architecture == "multi-layer")
    assert np.all(np.isfinite(ds["loss"].values))
    _assert_the_file_rebuilds_the_circuit_and_its_responses(ds)


def test_the_gsm_circuit_is_compared_with_the_exact_posterior_of_the_fitted_model(patches):
    """With ICA's filters as its decoder, the reference is the exact posterior (quadrature) of
    the GSM the file describes, rebuilt here from the stored filters, C, noise (fixed at
    --noise-std) and contrast prior; the stored parameters rebuild the circuit, whose responses
    to the held-out patches come out the same again."""
    from analysis.generative import GaussianScaleMixture
    from analysis.gsm_fit import ica_filters

    patch_file = load(patches)
    ds = run_natural_images(1, patch_file, model="gsm", n_latent=6, n_components=6, n_train=3000, n_test=3, steps=50,
                            samples=50, progress=False)
    config = config_of(ds)
    assert config["noise_std"] == 0.3 and not config["fit_noise"]
    _assert_the_file_rebuilds_the_circuit_and_its_responses(ds)
    train = patch_file["whitened"].values[:3000, :6].astype(float)
    np.testing.assert_allclose(ds["decoder"].values, ica_filters(train, 1), atol=1e-12)
    fitted = GaussianScaleMixture(ds["decoder"].values, ds["prior_cov"].values, config["noise_std"],
                                  config["contrast_shape"], config["contrast_scale"])
    exact = fitted.posterior(ds["x"].values)
    np.testing.assert_allclose(ds["reference_mean"].values, exact.mean, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ds["reference_cov"].values, exact.cov, rtol=1e-10, atol=1e-14)
    np.testing.assert_array_equal(ds["gabor_r_squared"].values, ds["ica_gabor_r_squared"].values)


def test_the_gsm_noise_fitted_by_ml_goes_towards_zero(patches):
    """--fit-noise: the ML noise of complete ICA filters on whitened patches is far below the
    fixed default (the reason for the default; 0.011 on 12 components)."""
    ds = run_natural_images(1, load(patches), model="gsm", n_latent=6, n_components=6, n_train=3000, n_test=2,
                            steps=1, samples=20, fit_noise=True, progress=False)
    assert config_of(ds)["fit_noise"] and config_of(ds)["noise_std"] < 0.1


@pytest.mark.slow
def test_the_receptive_field_figure_at_its_published_size():
    """The gallery's figure (16 x 16 patches, 64 components, K = 64; about 3.5 min): the issue's
    bar, median Gabor R^2 > 0.7 over active units, above the random control's and below ICA's
    (gallery: 0.82, control 0.62, ICA 0.89; seeds 2 and 3 gave 0.841 and 0.855)."""
    ds = receptive_fields.build(seed=1)
    median = float(ds["median_gabor_r_squared"])
    assert 0.7 < median < float(ds["ica_median_gabor_r_squared"])
    assert median > float(ds["control_median_gabor_r_squared"])
