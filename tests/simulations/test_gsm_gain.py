"""`run gsm-gain`: the task is run gsm's, the file's summaries are its own per-stimulus
values', the comparison fields are consistent, and bad input is refused. Its claims are
tested at the figure's size in test_gsm_figures."""

import numpy as np
import pytest
from cli_checks import assert_refused

from simulations.experiments import gsm_task_data
from simulations.gsm_gain import run_gsm_gain
from simulations.results import check_units, config_of, load

SIZES = dict(n_test=2, n_train=2000, steps=200)


def test_the_file_holds_run_gsms_task_and_its_own_summaries():
    ds = run_gsm_gain(2, samples=400, progress=False, **SIZES)
    check_units(ds)
    levels = ds["contrast_level"].values
    model, _, x, z, contrast = gsm_task_data(2, 4, 8, 0.5, 2.0, 0.5, levels, SIZES["n_train"], SIZES["n_test"])
    for name, expected in (("x", x), ("z", z), ("A", model.A), ("stimulus_contrast", contrast)):
        np.testing.assert_array_equal(ds[name].values, expected)
    # The comparison: a Gaussian circuit is no closer than the best Gaussian (5 % slack for
    # the Monte Carlo and the optimiser).
    assert np.all(ds["gaussian_circuit_kl_by_contrast"].values > 0.95 * ds["best_gaussian_kl_by_contrast"].values)
    contrast = ds["stimulus_contrast"].values
    r = ds["r"].values
    posterior_sd = np.sqrt(np.diagonal(ds["posterior_cov"].values, axis1=1, axis2=2))
    for index, level in enumerate(ds["contrast_level"].values):
        at = contrast == level
        assert float(ds["kl_mixture_by_contrast"][index]) == pytest.approx(ds["kl_mixture_posterior"][at].mean())
        ratio = (r[at].var(1, ddof=1) / posterior_sd[at] ** 2).mean()
        assert float(ds["variance_ratio_by_contrast"][index]) == pytest.approx(ratio)
        gain = np.exp(ds["gain_state"].values[at]).mean()
        assert float(ds["gain_contrast_by_contrast"][index]) == pytest.approx(gain)
    assert np.all(ds["kl_mixture_posterior_se"].values > 0)
    assert config_of(ds)["steps"] == 200 and ds["loss"].sizes["step"] == 200


def test_the_command_writes_a_file_that_reloads(tmp_path):
    from simulations.cli import main

    out = tmp_path / "gain.nc"
    assert main(["run", "gsm-gain", "--seed", "1", "--quick", "--quiet", "--out", str(out)]) == 0
    ds = load(out)
    assert config_of(ds)["experiment"] == "gsm-gain" and "gaussian_circuit_kl_by_contrast" not in ds


@pytest.mark.parametrize("argv, message", [
    (["--encoder-width", "0"], "--encoder-width"),
    (["--samples", "1"], "--samples"),
    (["--steps", "0"], "--steps"),
])
def test_bad_options_are_refused(tmp_path, capsys, argv, message):
    out = tmp_path / "gain.nc"
    assert_refused(["run", "gsm-gain", "--seed", "1", "--out", str(out), *argv], message, out, capsys)
