"""The benchmark suite runs end to end in quick mode and writes its JSON and Markdown
(the timings of quick mode are not checked: they mean nothing at these sizes)."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_quick_suite_writes_json_and_markdown(tmp_path):
    completed = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--quiet", "--out", str(tmp_path)],
                               cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stderr[-2000:]
    results = json.loads((tmp_path / "benchmarks-quick.json").read_text())
    assert set(results["sections"]) == {"rate_throughput", "spiking_targets", "training_time",
                                        "optimum", "natural_images", "synapses", "prng", "sampling", "scale",
                                        "trained_spiking", "ring_ssn"}
    architectures = {row["architecture"] for row in results["sections"]["optimum"]}
    assert architectures == {"single-layer", "multi-layer", "recurrent"}
    engines = {row["engine"] for row in results["sections"]["rate_throughput"]}
    assert {"ours", "gemm", "numpy-loop"} <= engines and any(e.startswith("brian2") for e in engines)
    for row in results["sections"]["rate_throughput"]:
        assert {"N", "B", "steps", "engine", "seconds_median", "neuron_steps_per_s", "gflops"} <= set(row)
        assert row["seconds_min"] <= row["seconds_median"] <= row["seconds_max"]
    assert results["machine"]["cores"] >= 1 and "numpy" in results["versions"]
    assert all(row["seconds"] > 0 for row in results["sections"]["synapses"])
    assert {row["impl"] for row in results["sections"]["prng"]} == {"threefry2x32", "rbg", "unsafe_rbg"}
    samplers = {row["sampler"].split(" (")[0] for row in results["sections"]["sampling"]}
    assert samplers == {"trained recurrent circuit", "Langevin circuit", "optimal irreversible circuit", "Gibbs",
                        "MALA", "NUTS"}
    assert all(row["ess_bulk_per_s"] > 0 and row["cold_start_s"] >= 0 for row in results["sections"]["sampling"])
    assert all(row["peak_rss_gib"] > 0 and row["finite"] for row in results["sections"]["scale"][:1])
    spiking = results["sections"]["trained_spiking"]
    assert {row["engine"] for row in spiking} == {"jax", "brian2-numpy"}
    assert all(row["per_second"] > 0 for row in spiking)
    assert {row["workload"].split()[2] for row in spiking} == {"escape", "lif"}
    assert [row["rate_units"] for row in results["sections"]["ring_ssn"]] == ["optimiser steps/s"] + [
        "simulated s / wall s"] * 2
    markdown = (tmp_path / "benchmarks-quick.md").read_text()
    assert "## rate throughput" in markdown and "## Which sampler wins per wall second" in markdown


def test_the_moment_test_passes_jax_normals_and_catches_a_biased_generator():
    """The chosen generator's normals pass at 10^6 draws (|z| < 4.5 in all five moments: a
    false alarm has probability about 3e-5); draws with variance 1.01, a skewed or a repeated
    stream fail."""
    import numpy as np

    from benchmarks.prng import IMPLEMENTATIONS, moment_z_scores, quality

    z = quality(IMPLEMENTATIONS[0], 10**6)  # threefry, the default the benchmark chose
    assert max(abs(value) for value in z.values()) < 4.5, z
    normal = np.random.default_rng(5).standard_normal((2, 10**6))
    assert abs(moment_z_scores(1.01 * normal[0], normal[1])["variance"]) > 4.5
    skewed = normal[0] + 0.02 * (normal[0] ** 2 - 1)
    assert abs(moment_z_scores(skewed, normal[1])["skewness"]) > 4.5
    assert moment_z_scores(normal[0], normal[0])["correlation"] > 4.5


def _sampling_posterior(n_latent, condition, seed=0):
    import numpy as np

    from benchmarks.sampling import linear_gaussian_task

    task = linear_gaussian_task(n_latent, condition, seed)
    _, x = task.sample(1, np.random.default_rng(seed + 1))
    return task, task.posterior(x)


def test_sampling_targets_have_the_condition_number_asked_for_and_refuse_bad_sizes():
    import numpy as np
    import pytest

    from benchmarks.sampling import linear_gaussian_task

    task = linear_gaussian_task(16, 1000.0, seed=2)
    np.testing.assert_allclose(np.linalg.eigvalsh(task.posterior_precision), np.geomspace(1, 1000, 16), rtol=1e-9)
    with pytest.raises(ValueError, match="n_latent"):
        linear_gaussian_task(1, 10.0)
    with pytest.raises(ValueError, match="condition"):
        linear_gaussian_task(4, 1.0)


def test_the_gibbs_sweep_is_the_linear_map_it_claims_and_leaves_the_posterior_invariant():
    import jax
    import numpy as np
    from scipy.linalg import solve_discrete_lyapunov

    from benchmarks.sampling import _gibbs_step, gibbs_update

    task, posterior = _sampling_posterior(5, 100.0, seed=3)
    mean, precision = posterior.mean[0], task.posterior_precision
    update, offset, loading = gibbs_update(mean, precision)
    np.testing.assert_allclose(np.linalg.solve(np.eye(5) - update, offset), mean, atol=1e-10)
    np.testing.assert_allclose(solve_discrete_lyapunov(update, loading @ loading.T), posterior.cov, rtol=1e-8,
                               atol=1e-12)
    # The JAX sweep applies exactly that map to the same normals.
    key = jax.random.PRNGKey(4)
    z = np.random.default_rng(5).normal(size=(3, 5)).astype(np.float32)
    swept = np.asarray(_gibbs_step(mean, precision)({"record": z}, key)["record"])
    normals = np.asarray(jax.random.normal(key, z.shape))
    np.testing.assert_allclose(swept, z @ update.T + offset + normals @ loading.T, rtol=1e-4, atol=1e-4)


def test_both_circuit_drifts_sample_the_posterior_and_the_irreversible_one_has_every_eigenvalue_one():
    """Continuous-time stationary covariance H^-1 for both (B S + S B^T = 2 Sigma); the
    irreversible drift, taken to the precision's whitened metric, is triangular with a unit
    diagonal: every eigenvalue exactly 1 (per tau), against lambda_min(Sigma H) for Langevin."""
    import numpy as np
    from scipy.linalg import sqrtm

    from analysis.linear_samplers import circuit_drift, stationary_covariance

    task, posterior = _sampling_posterior(8, 100.0, seed=6)
    precision = task.posterior_precision
    for irreversible in (False, True):
        drift, noise_variance = circuit_drift(precision, irreversible)
        np.testing.assert_allclose(noise_variance, 1 / np.diag(precision), rtol=1e-12)
        np.testing.assert_allclose(stationary_covariance(drift, np.diag(noise_variance)), posterior.cov, rtol=1e-7,
                                   atol=1e-10)
    langevin, _ = circuit_drift(precision, False)
    np.testing.assert_allclose(np.diag(langevin), 1.0, rtol=1e-12)
    root = np.sqrt(noise_variance)
    whitened_root = sqrtm(root[:, None] * precision * root[None, :]).real
    triangular = whitened_root @ (drift / root[:, None] * root[None, :]) @ np.linalg.inv(whitened_root)
    np.testing.assert_allclose(np.tril(triangular, -1), 0.0, atol=1e-8)
    np.testing.assert_allclose(np.diag(triangular), 1.0, atol=1e-8)
    assert np.linalg.eigvals(langevin).real.min() < 0.2


def test_mala_draws_the_posterior_mean_and_variance_within_standard_errors():
    """MALA after warm-up, 64 chains: each latent's mean and variance within 4.5 standard errors
    (from the bulk ESS of z and of (z - m)^2) of the exact posterior; six comparisons, a false
    alarm about 4e-5 per run, and fixed keys. An unadjusted step (no Metropolis correction)
    inflates the stiffest variance by several per cent, far outside these errors."""
    import jax
    import jax.numpy as jnp
    import numpy as np
    from arviz_stats.base import array_stats

    from benchmarks.sampling import MALA_WARMUP, _compiled, _mala_step, _run_budgeted, _thinned_chain

    task, posterior = _sampling_posterior(3, 10.0, seed=7)
    mean, precision = posterior.mean[0], task.posterior_precision
    state = {"record": jnp.zeros((64, 3), jnp.float32), "log_step": jnp.asarray(np.log(0.1), jnp.float32)}
    warmup = _compiled(_thinned_chain(_mala_step(mean, precision, None), MALA_WARMUP, 1), state, jax.random.PRNGKey(0))
    state, _ = warmup(state, jax.random.PRNGKey(0))
    run = _run_budgeted(_mala_step(mean, precision, state["log_step"]), state, jax.random.PRNGKey(1), 0.0, 40_000)
    draws = run["draws"].astype(float)  # (chain, draw, K)
    variance = np.diag(posterior.cov)
    for k in range(3):
        series = draws[..., k]
        se_mean = np.sqrt(variance[k] / array_stats.ess(series, chain_axis=0, draw_axis=1, method="mean"))
        assert abs(series.mean() - mean[k]) < 4.5 * se_mean
        squared = (series - mean[k]) ** 2
        se_variance = squared.std() / np.sqrt(array_stats.ess(squared, chain_axis=0, draw_axis=1, method="mean"))
        assert abs(squared.mean() - variance[k]) < 4.5 * se_variance, (k, squared.mean(), variance[k])


def test_the_optimal_irreversible_circuit_gives_more_effective_samples_per_tau_than_langevin():
    """At K = 16, condition 100, the same noise and the same 20,000 steps (400 tau) per chain:
    the optimal irreversible drift (every eigenvalue 1/tau) against the reversible one (slowest
    rate lambda_min(Sigma H) / tau) - the comparison the README's sampling table rests on."""
    import jax

    from analysis.linear_samplers import circuit_drift
    from benchmarks.sampling import _euler, _linear_row

    task, posterior = _sampling_posterior(16, 100.0)
    rows = {}
    for irreversible in (False, True):
        update, offset, noise_cov = _euler(*circuit_drift(task.posterior_precision, irreversible), posterior.mean[0])
        rows[irreversible] = _linear_row("circuit", update, offset, noise_cov, posterior, 0.0, jax.random.PRNGKey(2),
                                         per_tau=True, steps=20_000)
    assert rows[True]["ess_bulk_per_tau"] > 3 * rows[False]["ess_bulk_per_tau"], rows
    assert rows[True]["cold_start_steps"] < rows[False]["cold_start_steps"]


def test_running_one_section_updates_the_results_file_and_an_unknown_section_is_refused(tmp_path, capsys):
    import pytest

    from benchmarks.__main__ import main, merged, to_markdown

    path = tmp_path / "benchmarks.json"
    machine, versions = {"cpu": "x", "cores": 2, "python": "3.11"}, {"numpy": "2"}
    path.write_text(json.dumps({"quick": False, "machine": machine, "versions": versions,
                                "sections": {"prng": [{"impl": "a"}], "optimum": [{"K": 16}]},
                                "wall_s": {"prng": 1.0, "optimum": 2.0}}))
    other = {"cpu": "y", "cores": 2, "python": "3.11"}
    rerun = {"quick": False, "machine": other, "versions": versions, "sections": {"prng": [{"impl": "b"}]},
             "wall_s": {"prng": 3.0}, "section_machine": {"prng": other}}
    combined = merged(path, rerun)
    assert list(combined["sections"]) == ["optimum", "prng"]  # the suite's order
    assert combined["sections"]["prng"] == [{"impl": "b"}] and combined["wall_s"] == {"prng": 3.0, "optimum": 2.0}
    assert combined["section_machine"] == {"optimum": machine, "prng": other}  # each section its own machine
    assert "Run on another machine: x, 2 cores." in to_markdown({**combined, "machine": other, "quick": False})
    assert merged(path, {**rerun, "versions": {"numpy": "3"}})["sections"] == rerun["sections"]
    with pytest.raises(SystemExit) as refused:
        main(["samplng", "--out", str(tmp_path)])
    assert refused.value.code == 2 and "unknown section(s) samplng" in capsys.readouterr().err
