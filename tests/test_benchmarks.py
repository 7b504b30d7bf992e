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
    assert set(results["sections"]) == {"rate_throughput", "spiking_targets", "sampling_efficiency", "training_time",
                                        "optimum", "natural_images", "synapses", "prng"}
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
    assert "## rate throughput" in (tmp_path / "benchmarks-quick.md").read_text()


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
