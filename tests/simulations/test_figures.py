"""The figures: the data behind each one (at --quick sizes; the published sizes are the
``slow`` tests), the files written, and that a saved netCDF redraws the same figure."""

import numpy as np
import pytest
from matplotlib.collections import Collection
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from analysis.compare import correlation_agreement, gaussian_kl
from analysis.variability import band_power
from simulations.cli import main
from simulations.figures import FIGURES, make
from simulations.results import config_of, load, save
from simulations.ssn_experiments import run_ssn


def _drawn_data(figure):
    """Every line's, collection's and bar's data, panel by panel: what a redraw must reproduce."""
    data = []
    for ax in figure.axes:
        for artist in ax.get_children():
            if isinstance(artist, Line2D):
                data.append(np.asarray(artist.get_xydata(), dtype=float))
            elif isinstance(artist, Collection):
                data.append(np.asarray(artist.get_offsets(), dtype=float))
                paths = artist.get_paths()
                data.extend(np.asarray(path.vertices, dtype=float) for path in paths)
            elif isinstance(artist, Rectangle) and artist is not ax.patch:
                data.append(np.array([artist.get_x(), artist.get_y(), artist.get_width(), artist.get_height()]))
    return data


def assert_reloads_to_same_plot(module, ds, tmp_path):
    path = save(ds, tmp_path / f"{module.NAME}.nc")
    reloaded = load(path)
    assert config_of(reloaded) == config_of(ds)
    original, redrawn = _drawn_data(module.plot(ds)), _drawn_data(module.plot(reloaded))
    assert len(original) == len(redrawn) > 0
    for a, b in zip(original, redrawn, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.fixture(scope="module")
def trained_ssns():
    """Quick SSNs (50 steps) shared by the onset and dynamics figures: the quick tests check the
    figures' data, which does not depend on how far the SSNs trained (the slow tests do)."""
    return {objective: run_ssn(1, objective, steps=50, progress=False) for objective in ("moments", "mean")}


def test_contrast(tmp_path):
    module = FIGURES["contrast"]
    ds = module.build(seed=1, quick=True)
    posterior_variance = ds["posterior_variance"].values
    assert np.all(np.diff(posterior_variance) < 0), "the GSM posterior narrows with contrast"
    assert np.all(np.diff(ds["posterior_mean"].values[1:]) > 0)
    response = ds["response_variance"].values
    assert response[-1] < response[0], "the trained circuit's variance must fall with contrast"
    assert_reloads_to_same_plot(module, ds, tmp_path)


def test_onset_data_and_reload(tmp_path, trained_ssns):
    module = FIGURES["onset"]
    ds = module.build(seed=1, quick=True, ssn_results=trained_ssns["moments"])
    assert ds["fano"].dims == ("window",) and ds["fano"].size == 10
    assert np.all(ds["fano_se"].values > 0)
    assert float(ds["fano_drop"]) == pytest.approx(float(ds["fano_before"] - ds["fano_after"]))
    assert float(ds["posterior_variance_stimulus"]) < float(ds["posterior_variance_blank"])
    assert_reloads_to_same_plot(module, ds, tmp_path)


@pytest.mark.slow
def test_onset_quench_at_default_settings():
    """The acceptance bar: the Fano factor after onset is below that before by > 3 standard errors,
    and the samples' variance falls with it."""
    ds = FIGURES["onset"].build(seed=1)
    assert float(ds["fano_drop"]) > 3 * float(ds["fano_drop_se"])
    assert float(ds["variance_after"]) < float(ds["variance_before"])


def test_ssn_dynamics_data_and_reload(tmp_path, trained_ssns):
    module = FIGURES["ssn-dynamics"]
    ds = module.build(seed=1, quick=True, ssn_results=trained_ssns["moments"], control_results=trained_ssns["mean"])
    assert ds["psd"].dims == ("network", "contrast", "frequency")
    np.testing.assert_allclose(ds["gamma_power"].values,
                               band_power(ds["frequency"].values, ds["psd"].values, (20.0, 80.0)))
    assert np.all(np.isfinite(ds["overshoot"].values))
    assert_reloads_to_same_plot(module, ds, tmp_path)


def test_spontaneous(tmp_path):
    module = FIGURES["spontaneous"]
    ds = module.build(seed=1, quick=True)
    spontaneous_cov = ds["spontaneous_cov"].values
    k = spontaneous_cov.shape[0]
    expected = float(gaussian_kl(ds["spontaneous_mean"].values, spontaneous_cov, np.zeros(k), ds["prior_cov"].values))
    assert float(ds["kl_spontaneous_prior"]) == pytest.approx(expected, rel=1e-9)
    # The 2000 spontaneous samples are independent draws of the circuit's own Gaussian response to
    # x = 0: mean within 4.5 SE (sd / sqrt(2000)), variance within 4.5 SE (var sqrt(2 / 1999));
    # two-sided false alarm 7e-6 per number, 1e-4 for the 2K of them.
    exact_variance = np.diag(ds["circuit_blank_cov"].values)
    mean_z = (ds["spontaneous_mean"].values - ds["circuit_blank_mean"].values) / np.sqrt(exact_variance / 2000)
    variance_z = (np.diag(spontaneous_cov) - exact_variance) / (exact_variance * np.sqrt(2 / 1999))
    assert np.abs(mean_z).max() < 4.5 and np.abs(variance_z).max() < 4.5
    assert_reloads_to_same_plot(module, ds, tmp_path)


def test_noise_correlations(tmp_path):
    module = FIGURES["noise-correlations"]
    ds = module.build(seed=1, quick=True)
    assert ds["noise_correlation"].size == 15
    # Exact: with an independent prior, signal correlations are those of I - Sigma, opposite in sign.
    assert float(ds["exact_signal_noise_relation"]) < -0.9
    # 300 steps train too little to judge agreement with the posterior (the slow test does), but the
    # sampled noise correlations must be the circuit's own exact ones: 4.5 SE per pair (SE over 40
    # stimuli, t with 39 dof: two-sided false alarm 6e-5 per pair, 1e-3 for the 15).
    deviation = np.abs(ds["noise_correlation"] - ds["circuit_correlation"]) / ds["noise_correlation_se"]
    assert float(deviation.max()) < 4.5
    agreement = correlation_agreement(ds["noise_correlation"].values, ds["posterior_correlation"].values)
    assert float(ds["noise_posterior_slope"]) == agreement["slope"]
    assert_reloads_to_same_plot(module, ds, tmp_path)


@pytest.mark.slow
def test_signal_and_noise_correlations_have_opposite_signs_at_default_settings():
    """Signal correlations from 200 stimuli resolve the exact sign relation that 40 cannot."""
    ds = FIGURES["noise-correlations"].build(seed=1)
    assert float(ds["noise_posterior_agreement"]) > 0.95
    assert abs(float(ds["noise_posterior_slope"]) - 1) < 0.1  # the right scale, not only the right pattern
    assert float(ds["signal_noise_relation"]) < 0


def test_spiking_figure_via_the_command(tmp_path, capsys):
    assert main(["figures", "spiking", "--quick", "--out", str(tmp_path), "--formats", "png", "--quiet"]) == 0
    assert "spiking:" in capsys.readouterr().out
    ds = load(tmp_path / "spiking.nc")
    assert (tmp_path / "spiking.png").stat().st_size > 0 and not (tmp_path / "spiking.pdf").exists()
    assert config_of(ds)["figure"] == "spiking" and config_of(ds)["quick"] is True
    kl = ds["kl_sampled"].values
    assert kl[-1] < kl[0]
    assert_reloads_to_same_plot(FIGURES["spiking"], ds, tmp_path)


def test_figures_command_lists_and_refuses_unknown_names(capsys):
    assert main(["figures", "--list"]) == 0
    listed = capsys.readouterr().out
    assert all(name in listed for name in FIGURES)
    assert main(["figures", "nope"]) == 2
    assert "unknown figure" in capsys.readouterr().err


def test_make_refuses_unknown_formats(tmp_path):
    with pytest.raises(ValueError, match="formats"):
        make(FIGURES["spiking"], tmp_path, quick=True, formats=("svg",))


@pytest.mark.slow
def test_cost_families_reach_each_exact_optimum(tmp_path):
    """Slow (about a minute even at --quick sizes, compilation-bound), so at the published sizes."""
    from circuits.reliability import make_cost

    module = FIGURES["cost-families"]
    ds = module.build(seed=1)
    for family in ds["cost"].values:
        ratio = ds["optimal_variance_ratio"].sel(cost=family).values
        assert np.all(np.diff(ratio) > 0), f"{family}: a stronger cost must leave more noise"
        measured = ds["variance_ratio"].sel(cost=family).values
        assert np.all(np.diff(measured) > 0), f"{family}: trained variance must grow with cost strength"
    # The log cost's exact optimum is lambda / H_ii: linear in the strength.
    log_ratio = ds["optimal_variance_ratio"].sel(cost="log").values
    np.testing.assert_allclose(log_ratio / ds["strength"].values, log_ratio[0] / ds["strength"].values[0])
    assert make_cost("log", 2.0).optimal_variance(np.array([4.0]))[0] == pytest.approx(0.5)
    deviation = np.abs(ds["variance_ratio"].values / ds["optimal_variance_ratio"].values - 1)
    assert deviation.max() < 0.02
    assert_reloads_to_same_plot(module, ds, tmp_path)


@pytest.mark.slow
def test_architectures(tmp_path):
    """Slow (about a minute even at --quick sizes, compilation-bound), so at the published sizes."""
    module = FIGURES["architectures"]
    ds = module.build(seed=1)
    assert ds["kl"].dims == ("architecture", "seed") and ds["kl"].shape == (3, 3)
    floor = ds["mean_field_floor"].values
    # Independent noise cannot beat the mean-field floor (up to the sampling error of 20 x 500 draws).
    assert np.all(ds["kl"].sel(architecture="single-layer").values > 0.8 * floor)
    for architecture in ("multi-layer", "recurrent"):
        assert np.all(ds["kl"].sel(architecture=architecture).values < floor / 4)
    assert np.all(ds["response_variance"].values > 0)
    assert_reloads_to_same_plot(module, ds, tmp_path)


@pytest.mark.slow
def test_sampling_ssn_transients_and_gamma_grow_with_contrast_beyond_the_control():
    ds = FIGURES["ssn-dynamics"].build(seed=1)
    sampling, control = ds.sel(network="moments"), ds.sel(network="mean")
    assert float(sampling["gamma_power"][-1]) > float(sampling["gamma_power"][0])
    assert float(sampling["overshoot"][-1]) > float(sampling["overshoot"][0])
    assert np.all(sampling["gamma_power"].values > control["gamma_power"].values)
    assert np.all(sampling["overshoot"].values > control["overshoot"].values)


@pytest.mark.slow
def test_emergence_table_at_the_published_size(tmp_path):
    """The published emergence table (72 trainings, about 65 min on 2 cores): every claim of the
    README's emergence section. KL to the implied posterior is compared with twice the plug-in
    bias of a moment-matched KL from S samples, (K + K(K+1)/2) / (2 S)."""
    module = FIGURES["emergence"]
    ds = module.build(seed=1)
    true, learned = ds.sel(decoder="true"), ds.sel(decoder="learned")
    assert float(ds["objective_gap"].sel(task="identity").max()) < 0.02
    ratio = true["kl_floor_ratio"]
    assert np.all(np.abs(ratio.sel(architecture="single-layer", charge="responses").values - 1) < 0.25)
    for architecture in ("multi-layer", "recurrent"):
        assert np.all(ratio.sel(architecture=architecture, charge="responses").values < 0.25)
    assert np.all(ratio.sel(architecture="multi-layer", charge="local").values > 1)
    assert np.all(ratio.sel(architecture="recurrent", charge="local").values < 1)
    config = config_of(ds)
    for task, options in config["tasks"].items():
        k = options["n_latent"]
        bias = (k + k * (k + 1) / 2) / (2 * config["samples"])
        assert np.all(learned["kl_implied_posterior"].sel(task=task).values < 2 * bias)
        assert np.all(learned["optimum_kl_implied"].sel(task=task).values < 1e-6)
    assert "| identity | recurrent | local | true |" in module.table_markdown(ds)
    assert_reloads_to_same_plot(module, ds, tmp_path)
