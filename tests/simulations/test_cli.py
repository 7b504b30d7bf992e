"""The sampling-circuits command: a run writes a file and a table; bad arguments exit 2."""

import pytest

from simulations.cli import main
from simulations.results import config_of, load

SMALL = ["--steps", "100", "--samples", "20", "--test-stimuli", "3", "--quiet"]


def test_run_writes_a_netcdf_and_prints_the_metrics(tmp_path, capsys):
    out = tmp_path / "lg.nc"
    command = ["run", "linear-gaussian", "--architecture", "multi-layer", "--seed", "2", "--out", str(out)]
    assert main(command + SMALL) == 0
    printed = capsys.readouterr().out
    assert "kl_moment_matched" in printed and "mean_field_floor" in printed
    ds = load(out)
    assert config_of(ds)["architecture"] == "multi-layer"
    assert main(["show", str(out)]) == 0
    assert "seed = 2" in capsys.readouterr().out


def test_unknown_architecture_exits_with_usage_error(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "linear-gaussian", "--architecture", "lstm", "--seed", "1", "--out", str(tmp_path / "x.nc")])
    assert exit_info.value.code == 2


def test_negative_cost_strength_is_a_clear_error(tmp_path, capsys):
    code = main(["run", "gsm", "--seed", "1", "--cost-strength", "-1", "--out", str(tmp_path / "x.nc")] + SMALL)
    assert code == 2
    assert "strength must be" in capsys.readouterr().err
    assert not (tmp_path / "x.nc").exists()


def test_info_names_versions_devices_target_and_cache(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("SAMPLING_CIRCUITS_CACHE", str(tmp_path / "cache"))
    assert main(["info"]) == 0
    printed = capsys.readouterr().out
    for expected in ("sampling-circuits:", "numpy:", "brian2:", "jax devices: cpu", "brian2 default target:",
                     str(tmp_path / "cache")):
        assert expected in printed


def test_run_ssn_writes_a_trained_network_that_rebuilds(tmp_path, capsys):
    from simulations.ssn_experiments import trained_ssn

    out = tmp_path / "ssn.nc"
    assert main(["run", "ssn", "--seed", "3", "--steps", "3", "--objective", "mean", "--out", str(out),
                 "--quiet"]) == 0
    assert "ssn_loss_mean" in capsys.readouterr().out
    ds = load(out)
    assert ds["loss_mean"].sizes["step"] == 3
    ssn, params, model, config = trained_ssn(ds)
    assert config["objective"] == "mean" and set(params) == {"log_weights", "input_weights", "contrast_weights",
                                                             "input_bias", "log_noise_std"}
    assert model.n_latent == ssn.n_excitatory == 4
