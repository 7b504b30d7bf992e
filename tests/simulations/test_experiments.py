"""The rate-circuit experiments against the exact posterior (architectures, GSM contrast)."""

import numpy as np
import pytest
import xarray as xr

from simulations.experiments import CircuitOptions, run_gsm, run_linear_gaussian
from simulations.results import check_units, config_of


@pytest.fixture(scope="module")
def architecture_runs():
    return {arch: run_linear_gaussian(seed=1, architecture=arch, progress=False)
            for arch in ("single-layer", "multi-layer", "recurrent")}


def test_single_layer_sits_at_the_mean_field_floor(architecture_runs):
    ds = architecture_runs["single-layer"]
    assert float(ds.kl_moment_matched) == pytest.approx(float(ds.mean_field_floor), rel=0.15)


def test_multi_layer_goes_below_the_floor(architecture_runs):
    ds = architecture_runs["multi-layer"]
    assert float(ds.kl_moment_matched) < float(ds.mean_field_floor)


def test_recurrent_goes_below_a_quarter_of_the_floor_with_posterior_noise_correlations(architecture_runs):
    ds = architecture_runs["recurrent"]
    assert float(ds.kl_moment_matched) < 0.25 * float(ds.mean_field_floor)
    assert float(ds.noise_correlation_match) > 0.9


def test_results_file_is_self_describing(architecture_runs, tmp_path):
    ds = architecture_runs["multi-layer"]
    check_units(ds)
    assert ds.r.dims == ("stimulus", "sample", "latent")
    assert ds.r_hidden.dims == ("stimulus", "sample", "hidden")
    config = config_of(ds)
    assert config["architecture"] == "multi-layer" and config["seed"] == 1
    # The exact posterior can be recomputed from the file alone.
    from analysis.generative import LinearGaussian

    model = LinearGaussian(ds.A.values, ds.noise_std.values, ds.prior_cov.values)
    np.testing.assert_allclose(model.posterior(ds.x.values).mean, ds.posterior_mean.values, rtol=1e-12)


def test_same_seed_gives_identical_results():
    for arch in ("single-layer", "multi-layer", "recurrent"):
        # Without the closed-form optimum, whose compilation would be most of the time: it is
        # deterministic (L-BFGS from fixed starts) and its values are tested on their own.
        kwargs = dict(seed=3, architecture=arch, steps=100, samples=10, n_test=3, n_train=500, burn_in=0.05,
                      closed_form=False, progress=False)
        a, b = run_linear_gaussian(**kwargs), run_linear_gaussian(**kwargs)
        xr.testing.assert_equal(a, b)
        assert a.attrs["config"] == b.attrs["config"]


def test_gsm_response_variance_follows_the_posterior_variance_across_contrast():
    ds = run_gsm(seed=1, progress=False)
    assert np.sign(float(ds.response_variance_slope)) == np.sign(float(ds.posterior_variance_slope))
    assert float(ds.variance_contrast_correlation) > 0.9
    assert ds.response_variance_by_contrast.sizes["contrast_level"] == 5


@pytest.mark.parametrize("kwargs, match", [
    (dict(architecture="lstm"), "architecture"),
    (dict(cost_strength=-1.0), "strength"),
    (dict(cost="power"), "exponent"),
])
def test_bad_experiment_options_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        CircuitOptions(**kwargs)


def test_bad_seed_is_refused():
    with pytest.raises(ValueError, match="seed"):
        run_linear_gaussian(seed=-1, progress=False)
