"""The sampling-circuits command: a run writes a file and a table; bad arguments exit 2."""

import pytest

from simulations.cli import main
from simulations.results import config_of, load, new_dataset, variable

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
    code, err = _run_cli(["run", "gsm", "--seed", "1", "--cost-strength", "-1", "--out", str(tmp_path / "x.nc")]
                         + SMALL, capsys)
    assert code == 2
    assert "argument --cost-strength: must be > 0, got -1" in err
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


def _run_cli(argv, capsys):
    """(exit code, stderr) of the command, whether it returns or exits."""
    try:
        code = main(argv)
    except SystemExit as exit_info:
        code = exit_info.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("experiment, options, flag", [
    ("linear-gaussian", ["--charge", "local", "--architecture", "multi-layer", "--activity-cost-hidden", "-1"],
     "--activity-cost-hidden"),
    ("linear-gaussian", ["--charge", "local", "--architecture", "multi-layer", "--activity-cost-hidden", "nan"],
     "--activity-cost-hidden"),
    ("linear-gaussian", ["--charge", "local", "--architecture", "multi-layer", "--activity-cost-hidden", "inf"],
     "--activity-cost-hidden"),
    ("linear-gaussian", ["--architecture", "multi-layer", "--activity-cost-hidden", "1"], "--activity-cost-hidden"),
    ("linear-gaussian", ["--charge", "local", "--activity-cost-hidden", "1"], "--activity-cost-hidden"),
    ("linear-gaussian", ["--prior", "correlated", "--prior-correlation", "1"], "--prior-correlation"),
    ("linear-gaussian", ["--prior", "correlated", "--prior-correlation", "-0.5"], "--prior-correlation"),
    ("linear-gaussian", ["--prior-correlation", "0.3"], "--prior-correlation"),
    ("linear-gaussian", ["--precision-shape", "full", "--learn-precision"], "--precision-shape"),
    ("linear-gaussian", ["--precision-shape", "diagonal"], "--precision-shape"),
    ("linear-gaussian", ["--charge", "synapses"], "--charge"),
    ("linear-gaussian", ["--cost-exponent", "2"], "--cost-exponent"),
    ("gsm", ["--cost", "biophysical", "--cost-exponent", "2"], "--cost-exponent"),
    ("linear-gaussian", ["--hidden", "5"], "--hidden"),
    ("gsm", ["--architecture", "recurrent", "--hidden", "5"], "--hidden"),
    ("gsm", ["--learn-decoder"], "--learn-decoder"),
    ("gsm", ["--learn-precision"], "--learn-precision"),
    # Values out of range, in the flag's name, before any work.
    ("linear-gaussian", ["--latents", "0"], "argument --latents: must be >= 1, got 0"),
    ("linear-gaussian", ["--inputs", "-3"], "argument --inputs: must be >= 1"),
    ("linear-gaussian", ["--architecture", "multi-layer", "--hidden", "0"], "argument --hidden: must be >= 1"),
    ("gsm", ["--cost-strength", "nan"], "argument --cost-strength: must be finite"),
    ("gsm", ["--cost", "power", "--cost-exponent", "0"], "argument --cost-exponent: must be > 0"),
    ("gsm", ["--cost-scale", "-1"], "argument --cost-scale: must be > 0"),
    ("linear-gaussian", ["--steps", "0"], "argument --steps: must be >= 1"),
    ("linear-gaussian", ["--samples", "1"], "argument --samples: must be >= 2"),
    ("linear-gaussian", ["--test-stimuli", "0"], "argument --test-stimuli: must be >= 1"),
    ("linear-gaussian", ["--noise-std", "0"], "argument --noise-std: must be > 0"),
    ("gsm", ["--contrast", "-1"], "argument --contrast: must be > 0"),
    ("linear-gaussian", ["--seed", "-1"], "argument --seed: must be >= 0"),
    ("linear-gaussian", ["--latents", "four"], "argument --latents: expected an integer, got 'four'"),
    ("boltzmann", ["--clamp", "9=1"], "--clamp: unit 9 is not among the 5 units"),
    ("boltzmann", ["--clamp", "0=2"], "--clamp: observed values must be 0 or 1"),
    ("boltzmann", ["--units", "2", "--clamp", "0=1,1=0"], "--clamp must leave at least one unit free"),
    ("boltzmann", ["--clamp", "zero"], "--clamp takes UNIT=VALUE pairs"),
    ("boltzmann", ["--duration", "0"], "argument --duration: must be > 0"),
    ("boltzmann", ["--tau", "-0.01"], "argument --tau: must be > 0"),
    ("boltzmann", ["--weight-scale", "-1"], "argument --weight-scale: must be >= 0"),
    ("boltzmann", ["--trials", "0"], "argument --trials: must be >= 1"),
    ("ssn", ["--steps", "0"], "argument --steps: must be >= 1"),
])
def test_bad_options_fail_in_one_line_naming_the_flag(tmp_path, capsys, experiment, options, flag):
    """Each: exit code 2, one line on stderr that starts with 'error:' and names the option, no file,
    and no work started (the Boltzmann clamp is checked before the free run, not after it)."""
    import time

    out = tmp_path / "x.nc"
    small = SMALL if experiment in ("linear-gaussian", "gsm") else ["--quiet"]
    started = time.perf_counter()
    code, err = _run_cli(["run", experiment, "--seed", "1", "--out", str(out)] + options + small, capsys)
    assert time.perf_counter() - started < 5
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and flag in lines[0], err
    assert not out.exists()


def test_local_charge_and_learned_model_run_from_the_command(tmp_path, capsys):
    out = tmp_path / "lg.nc"
    command = ["run", "linear-gaussian", "--architecture", "multi-layer", "--charge", "local",
               "--activity-cost-hidden", "2", "--learn-decoder", "--learn-precision", "--precision-shape", "diagonal",
               "--prior", "correlated", "--prior-correlation", "0.3", "--seed", "1", "--out", str(out)]
    assert main(command + SMALL) == 0
    printed = capsys.readouterr().out
    assert "objective_gap" in printed and "heldout_loglik_ml" in printed
    config = config_of(load(out))
    assert (config["charge"], config["activity_cost_hidden"], config["precision_shape"]) == ("local", 2.0, "diagonal")
    assert config["prior_correlation"] == 0.3 and config["learn_decoder"] and config["learn_precision"]
    assert load(out).decoding_precision.dims == ("obs",)


def _results_file(path, experiment):
    from simulations.results import save

    return save(new_dataset({"value": variable((), 1.0, "1")}, None, {"seed": 1, "experiment": experiment},
                            experiment), path)


def test_bad_paths_fail_fast_in_one_line_before_any_work(tmp_path, capsys):
    """--out and --from problems: exit 2, one 'error:' line naming the problem, no file, no training
    (each answered in well under 5 s: the check runs before the experiment is even built)."""
    import time

    readme = tmp_path / "README.md"
    readme.write_text("# not netCDF\n")
    (tmp_path / "folder.nc").mkdir()
    gsm_file = _results_file(tmp_path / "gsm.nc", "gsm")
    lg = ["run", "linear-gaussian", "--seed", "1"] + SMALL
    cases = [
        (lg + ["--out", str(tmp_path / "folder.nc")], "is a folder"),
        (lg + ["--out", str(tmp_path / "plainname")], "must end in .nc"),
        (lg + ["--out", str(tmp_path / "no" / "such" / "x.nc")], "mkdir -p"),
        (["show", str(readme)], "not a netCDF file"),
        (["show", str(tmp_path / "missing.nc")], "no such file"),
        (["show", str(tmp_path / "folder.nc")], "is a folder"),
        (["run", "spiking-circuit", "--from", str(readme), "--seed", "1", "--out", str(tmp_path / "s.nc")],
         "not a netCDF file"),
        (["run", "spiking-circuit", "--from", str(gsm_file), "--seed", "1", "--out", str(tmp_path / "s.nc")],
         "holds the results of 'gsm'; expected 'linear-gaussian'"),
        (["run", "agop", "--from", str(readme), "--seed", "1", "--out", str(tmp_path / "a.nc")],
         "not a netCDF file"),
        (["run", "implicit-em", "--seed", "1", "--out", str(tmp_path / "e.nc"), "--plot", str(tmp_path / "plot")],
         "--plot"),
        (["run", "implicit-em", "--seed", "1", "--out", str(tmp_path / "e.nc"), "--plot",
          str(tmp_path / "no" / "p.png")], "mkdir -p"),
        (["run", "boltzmann", "--seed", "1", "--out", str(tmp_path / "b.nc"), "--plot", str(tmp_path / "folder.nc")],
         "a figure file name must end in one of"),
    ]
    for argv, message in cases:
        started = time.perf_counter()
        code, err = _run_cli(argv, capsys)
        assert time.perf_counter() - started < 5
        lines = err.strip().splitlines()
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "folder.nc", "gsm.nc"]


def test_every_file_kind_is_readable_by_group_and_others_under_umask_022(tmp_path):
    """Results, figure data and images (through figures' ``make``), sweep manifests: 0644, and
    no temporary file is left behind."""
    import json
    import os
    import stat
    from types import SimpleNamespace

    from analysis.plots import new_axes
    from simulations.figures._common import make
    from simulations.sweep import _write_json

    def build(seed, quick, progress):
        return new_dataset({"value": variable((), 1.0, "1")}, None, {"seed": seed}, "figure")

    def plot(ds):
        figure, ax = new_axes()
        ax.plot([0, 1], [0, float(ds["value"])])
        return figure

    previous = os.umask(0o022)
    try:
        paths = [_results_file(tmp_path / "r.nc", "gsm")]
        paths += make(SimpleNamespace(NAME="fig", build=build, plot=plot), tmp_path)
        _write_json(tmp_path / "sweep.json", {"points": []})
        paths.append(tmp_path / "sweep.json")
    finally:
        os.umask(previous)
    assert sorted(p.suffix for p in paths) == [".json", ".nc", ".nc", ".pdf", ".png"]
    assert sorted(tmp_path.iterdir()) == sorted(paths)
    for path in paths:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert json.loads((tmp_path / "sweep.json").read_text()) == {"points": []}


def test_run_quick_is_a_smoke_run_of_each_experiment(tmp_path, capsys):
    """Every experiment has --quick; the rate experiments' quick run is small (200 steps)."""
    from simulations.cli import build_parser
    from simulations.registry import QUICK

    assert set(QUICK) == set(build_parser().run_parsers)
    out = tmp_path / "lg.nc"
    assert main(["run", "linear-gaussian", "--seed", "1", "--quick", "--quiet", "--out", str(out)]) == 0
    config = config_of(load(out))
    assert (config["steps"], config["samples"], config["n_train"]) == (200, 50, 2000)
    assert main(["run", "gsm", "--seed", "1", "--quick", "--quiet", "--steps", "30", "--out", str(out)]) == 0
    assert config_of(load(out))["steps"] == 30  # an explicit --steps wins


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["run", "linear-gaussian", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: responses)" in text and "(default: 500)" in text
