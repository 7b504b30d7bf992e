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
                                        "optimum", "natural_images", "synapses"}
    architectures = {row["architecture"] for row in results["sections"]["optimum"]}
    assert architectures == {"single-layer", "multi-layer", "recurrent"}
    engines = {row["engine"] for row in results["sections"]["rate_throughput"]}
    assert {"ours", "gemm", "numpy-loop"} <= engines and any(e.startswith("brian2") for e in engines)
    for row in results["sections"]["rate_throughput"]:
        assert {"N", "B", "steps", "engine", "seconds_median", "neuron_steps_per_s", "gflops"} <= set(row)
        assert row["seconds_min"] <= row["seconds_median"] <= row["seconds_max"]
    assert results["machine"]["cores"] >= 1 and "numpy" in results["versions"]
    assert all(row["seconds"] > 0 for row in results["sections"]["synapses"])
    assert "## rate throughput" in (tmp_path / "benchmarks-quick.md").read_text()
