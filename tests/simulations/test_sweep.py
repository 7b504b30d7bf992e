"""Sweeps: validation before work, resume after a killed worker, recorded failures,
byte-identical reruns, and the combined Dataset."""

import hashlib
import json
import os
import signal

import pytest

from simulations.cli import main
from simulations.sweep import SweepConfig, load_sweep, read_config, run_point, run_sweep, validate_config

TINY = {"steps": 30, "samples": 20, "test-stimuli": 2}


def _write(path, text):
    path.write_text(text)
    return path


def _digests(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((folder / "points").glob("*.nc"))}


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with Client(cluster) as client:
        yield client
    cluster.close()


def _config(out, grid, fixed=TINY):
    return validate_config({"experiment": "gsm", "out": str(out), "fixed": dict(fixed), "grid": grid})


def test_3x4_sweep_survives_a_killed_worker_and_resumes(client, tmp_path):
    config = _config(tmp_path / "sweep", {"cost-strength": [0.5, 1.0, 2.0], "contrast": [0.5, 1.0, 2.0, 4.0],
                                          "seed": [1, 2]})
    killed = []
    worker_pids = client.run(os.getpid)

    def kill_one_worker(name):
        if not killed:  # after the first finished point, kill a worker in the middle of its next task
            pid = worker_pids[sorted(worker_pids)[0]]
            os.kill(pid, signal.SIGKILL)  # the nanny starts a fresh worker
            killed.append(pid)

    first = run_sweep(config, client=client, progress=False, on_point_done=kill_one_worker)
    assert killed and first["done"] + first["failed"] == 24
    finished = _digests(config.out)
    assert len(finished) == first["done"]

    second = run_sweep(config, client=client, progress=False)
    assert second == {"done": first["failed"], "skipped": first["done"], "failed": 0}
    after = _digests(config.out)
    assert len(after) == 24
    assert all(after[name] == digest for name, digest in finished.items())  # nothing finished was redone

    combined = load_sweep(config.out)
    assert combined["kl_moment_matched"].dims == ("cost_strength", "contrast", "seed")
    assert combined["cost_strength"].values.tolist() == [0.5, 1.0, 2.0]
    assert combined["contrast"].values.tolist() == [0.5, 1.0, 2.0, 4.0]
    assert combined["seed"].values.tolist() == [1, 2]
    assert combined["r"].dims[:3] == ("cost_strength", "contrast", "seed")
    assert combined.attrs["points_finished"] == 24
    # Points run in grid order, the first key slowest.
    one = json.loads((config.out / "sweep.json").read_text())["points"][7]
    assert one["values"] == {"cost_strength": 0.5, "contrast": 4.0, "seed": 2}

    # Determinism per point seed: the same points run again elsewhere give identical files.
    again = _config(tmp_path / "again", {"cost-strength": [0.5], "contrast": [4.0, 0.5], "seed": [2]})
    assert run_sweep(again, client=client, progress=False)["done"] == 2
    for name, digest in _digests(again.out).items():
        assert after[name] == digest


def test_killing_the_driver_mid_sweep_loses_no_finished_point(client, tmp_path):
    """SIGKILL the sweep command and its workers (its whole process group, as a job scheduler
    or a crash would) once some points are written; the rerun computes only the missing
    points, whose records name the second attempt, and every file matches a clean run."""
    import subprocess
    import sys
    import time

    text = ('experiment = "gsm"\nout = "killed"\n[fixed]\nsteps = 30\nsamples = 20\ntest-stimuli = 2\n'
            '[grid]\ncost-strength = [0.5, 2.0]\nseed = [1, 2]\n')
    path = _write(tmp_path / "sweep.toml", text)
    driver = subprocess.Popen([sys.executable, "-m", "simulations.cli", "sweep", str(path), "--workers", "2",
                               "--quiet"], cwd=tmp_path, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    points = tmp_path / "killed" / "points"
    deadline = time.monotonic() + 300
    while not list(points.glob("*.json")) and time.monotonic() < deadline and driver.poll() is None:
        time.sleep(0.2)
    os.killpg(driver.pid, signal.SIGKILL)
    driver.wait()
    finished = _digests(tmp_path / "killed")
    assert 1 <= len(finished) < 4, "the kill must land mid-sweep"

    as_written = read_config(path)  # its out is relative to the folder the command ran in
    config = SweepConfig(as_written.experiment, tmp_path / "killed", as_written.fixed, as_written.grid)
    counts = run_sweep(config, client=client, progress=False)
    assert counts == {"done": 4 - len(finished), "skipped": len(finished), "failed": 0}
    after = _digests(config.out)
    assert all(after[name] == digest for name, digest in finished.items())
    assert json.loads((config.out / "sweep.json").read_text())["attempts"] == 2
    attempts = {p.stem: json.loads(p.read_text())["attempt"] for p in points.glob("*.json")}
    for name in after:
        point = name.removesuffix(".nc")
        # A point killed between its file and its record has no record; it is still finished.
        assert attempts.get(point, 1) == 1 if name in finished else attempts[point] == 2

    # One point from each attempt, computed afresh the way a worker computes it, gives the same
    # file (every point is deterministic: see the 3x4 test for whole sweeps run twice).
    by_name = {config.point_name(point): point for point in config.points()}
    for name in (sorted(finished)[0], sorted(set(after) - set(finished))[0]):
        clean_path = tmp_path / "clean" / name
        clean_path.parent.mkdir(exist_ok=True)
        run_point(config.argv(by_name[name.removesuffix(".nc")], clean_path), attempt=1)
        assert hashlib.sha256(clean_path.read_bytes()).hexdigest() == after[name]


def test_a_failing_point_is_recorded_and_the_others_finish(client, tmp_path):
    """A point that passes validation but fails when it runs (a cost so strong that training
    diverges at its first step) is recorded; the other point finishes."""
    config = _config(tmp_path / "fail", {"cost-strength": [1.0, 1e300], "seed": [3]})
    counts = run_sweep(config, client=client, progress=False)
    assert counts == {"done": 1, "skipped": 0, "failed": 1}
    (error_file,) = (config.out / "points").glob("*.error.json")
    assert error_file.name.startswith("cost_strength=1e+300")
    assert "diverged" in json.loads(error_file.read_text())["error"]
    assert load_sweep(config.out)["kl_moment_matched"].notnull().sum() == 1
    assert run_sweep(config, client=client, progress=False, retries=1) == {"done": 0, "skipped": 1, "failed": 1}


@pytest.mark.parametrize(
    "text, match",
    [
        ('experiment = "gsm"\nout = "o"\nwrkers = 2\n[grid]\nseed = [1]', "'wrkers'"),
        ('experiment = "gsm"\nout = "o"\n[grid]\nseeds = [1]', "grid.seeds"),
        ('experiment = "gsm"\nout = "o"\n[fixed]\nsamples = "many"\n[grid]\nseed = [1]', "fixed.samples"),
        ('experiment = "gsm"\nout = "o"\n[fixed]\nsamples = 2.5\n[grid]\nseed = [1]', "fixed.samples"),
        ('experiment = "gsm"\nout = "o"\n[grid]\nseed = []', "grid.seed"),
        ('experiment = "gsm"\nout = "o"\n[grid]\nseed = 1', "grid.seed"),
        ('experiment = "gsm"\nout = "o"\n[fixed]\nseed = 1', "grid"),
        ('experiment = "gsm"\nout = "o"\n[grid]\nsamples = [10]', "seed"),
        ('experiment = "gsm"\nout = "o"\n[grid]\nseed = [1]\narchitecture = ["lstm"]', "grid.architecture"),
        ('experiment = "gsm"\nout = "o"\n[fixed]\nout = "x"\n[grid]\nseed = [1]', "fixed.out"),
        ('experiment = "gsm"\nout = "o"\n[fixed]\nseed = 1\n[grid]\nseed = [1, 2]', "grid.seed"),
        ('experiment = "gsm"\nout = "o"\n[grid]\nseed = [1, 1]', "grid.seed"),
        ('experiment = "nope"\nout = "o"\n[grid]\nseed = [1]', "experiment"),
        ('experiment = "gsm"\n[grid]\nseed = [1]', "out"),
        ('experiment = "gsm"\nout = "o"\n[grid\nseed = [1]', "TOML"),
        # Options that parse but do not validate: every grid point is checked before any runs.
        ('experiment = "gsm"\nout = "o"\n[grid]\nseed = [1]\ncost-strength = [1.0, -1.0]',
         r"grid.cost-strength: must be > 0, got -1.0"),
        ('experiment = "gsm"\nout = "o"\n[grid]\nseed = [1]\ncontrast = [1.0, 0.0]', r"grid.contrast: must be > 0"),
        ('experiment = "gsm"\nout = "o"\n[fixed]\nlatents = 0\n[grid]\nseed = [1]', r"fixed.latents: must be >= 1"),
        ('experiment = "gsm"\nout = "o"\n[grid]\nseed = [1, -2]', r"grid.seed: must be >= 0"),
        ('experiment = "linear-gaussian"\nout = "o"\n[fixed]\ncharge = "local"\n[grid]\nseed = [1]\n'
         'activity-cost-hidden = [1.0, -2.0]', "grid.activity-cost-hidden: must be >= 0"),
        ('experiment = "linear-gaussian"\nout = "o"\n[grid]\nseed = [1, 2]\nprior-correlation = [0.2]',
         "--prior-correlation"),
    ],
)
def test_malformed_config_is_rejected_before_any_work(tmp_path, capsys, monkeypatch, text, match):
    path = _write(tmp_path / "bad.toml", text)
    with pytest.raises(ValueError, match=match):
        read_config(path)
    monkeypatch.chdir(tmp_path)
    assert main(["sweep", str(path), "--quiet"]) == 2
    assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_config_keys_use_the_run_options(tmp_path):
    config = read_config(_write(tmp_path / "ok.toml", 'experiment = "linear-gaussian"\nout = "sweeps/arch"\n'
                                '[fixed]\nsamples = 500\ncost-strength = 2\n'
                                '[grid]\narchitecture = ["single-layer", "multi-layer"]\nseed = [1, 2, 3]\n'))
    assert isinstance(config, SweepConfig) and len(config.points()) == 6
    assert config.fixed == {"samples": 500, "cost_strength": 2}
    argv = config.argv(config.points()[0], tmp_path / "p.nc")
    assert argv[:2] == ["run", "linear-gaussian"] and "--cost-strength" in argv and "--quiet" in argv
    assert SweepConfig.point_name({"architecture": "single-layer", "seed": 1}) == "architecture=single-layer_seed=1"


def test_the_example_sweep_of_synapse_costs_is_a_valid_config():
    """examples/sweeps/synapses_digits.toml: every point's options pass the run parser's checks."""
    from pathlib import Path

    config = read_config(Path(__file__).parents[2] / "examples" / "sweeps" / "synapses_digits.toml")
    assert config.experiment == "synapses" and len(config.points()) == 66
    assert config.fixed == {"task": "digits", "cost_exponent": 2.0, "max_weight_std": 10.0}
    # The figure's trainings, point for point.
    from simulations.figures import synapse_cost

    assert config.fixed["max_weight_std"] == synapse_cost.MAX_WEIGHT_STD
    assert sorted({point["cost_strength"] for point in config.points()}) == list(synapse_cost.STRENGTHS)
    assert sorted({point["seed"] for point in config.points()}) == [1, 2, 3]


def test_the_example_sweep_of_synapse_cost_exponents_is_a_valid_config():
    """examples/sweeps/synapses_rho.toml: the four mechanisms' rho on three seeds."""
    from pathlib import Path

    config = read_config(Path(__file__).parents[2] / "examples" / "sweeps" / "synapses_rho.toml")
    assert config.experiment == "synapses" and len(config.points()) == 12
    assert sorted({point["cost_exponent"] for point in config.points()}) == pytest.approx([1 / 2, 2 / 3, 4 / 3, 2])


def test_the_example_sweep_of_fast_sampling_objectives_is_a_valid_config():
    """examples/sweeps/fast_sampling.toml: the issue's setting (K = 64, condition 100, 3 seeds)."""
    from pathlib import Path

    config = read_config(Path(__file__).parents[2] / "examples" / "sweeps" / "fast_sampling.toml")
    assert config.experiment == "fast-sampling" and len(config.points()) == 6
    assert config.fixed == {"latents": 64, "condition": 100.0, "window": 10.0, "steps": 2000}


def test_a_running_scheduler_is_reached_by_address(client, tmp_path):
    config = _config(tmp_path / "remote", {"seed": [4]})
    assert run_sweep(config, scheduler=client.scheduler.address, progress=False)["done"] == 1
    assert (config.out / "points" / "seed=4.nc").exists()
    assert len((config.out / "log.jsonl").read_text().splitlines()) == 1


def test_a_sweep_over_architectures_loads_as_one_dataset(client, tmp_path):
    """Parameters have named dims with index coordinates, so points whose parameters differ in
    shape (a multi-layer circuit has hidden neurons, the others none) merge, padded with NaN."""
    config = validate_config({"experiment": "linear-gaussian", "out": str(tmp_path / "arch"), "fixed": dict(TINY),
                              "grid": {"architecture": ["single-layer", "multi-layer", "recurrent"], "seed": [1]}})
    assert run_sweep(config, client=client, progress=False)["done"] == 3
    combined = load_sweep(config.out)
    assert combined["kl_moment_matched"].dims == ("architecture", "seed")
    assert combined["kl_moment_matched"].notnull().all()
    readout = combined["param_readout_weights"]
    assert readout.notnull().sel(architecture="multi-layer").all()
    assert readout.isnull().sel(architecture=["single-layer", "recurrent"]).all()
    assert combined["param_input_weights"].sizes["first_layer"] == 8  # the multi-layer's 2K hidden neurons
