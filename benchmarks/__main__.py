"""The benchmark suite: ``python -m benchmarks [--quick] [--out benchmarks/results]``.

Sections: rate-circuit simulation throughput against NumPy's GEMM (the limit), a plain
NumPy loop and Brian2; spiking circuits on each Brian2 target; effective samples per second
of the recurrent circuit against exact reference samplers; wall time to train to the
rate-circuit tolerance; the closed-form optimum of linear circuits at K = 16, D = 64;
natural-image patches and the NUTS reference posterior at K = 32; networks of stochastic synapses;
JAX's random-number generators in the simulation (speed against GEMM, and a moment test).
Writes ``benchmarks.json`` and ``benchmarks.md`` (each figure with min / median / max over
repeats where repeated, the machine and the package versions).
``--quick`` runs tiny sizes to check that everything runs; its timings mean nothing.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from benchmarks import _common  # noqa: F401  (sets JAX_PLATFORMS before JAX is imported)
from benchmarks._common import machine, markdown_table, versions

SECTIONS = ("rate_throughput", "spiking_targets", "sampling_efficiency", "training_time", "optimum", "natural_images",
            "synapses", "prng")
COLUMNS = {
    "rate_throughput": ["N", "B", "steps", "engine", "seconds_min", "seconds_median", "seconds_max",
                        "neuron_steps_per_s", "gflops"],
    "spiking_targets": ["workload", "target", "simulated_s", "first_run_s", "second_run_s", "simulated_s_per_wall_s"],
    "sampling_efficiency": ["sampler", "chains", "draws", "seconds_median", "ess_per_s", "seconds_for_1000_ess",
                            "stationary_kl"],
    "training_time": ["task", "steps", "seconds", "max_variance_error", "max_mean_error_sd", "meets_tolerance"],
    "optimum": ["K", "D", "architecture", "charge", "seconds", "objective", "kl_floor_ratio", "under_10_s"],
    "natural_images": ["workload", "seconds", "bar_s", "meets_bar", "max_rhat", "min_ess_bulk", "min_ess_tail",
                       "divergences"],
    "synapses": ["workload", "seconds", "first_run_s", "examples_per_s"],
    "prng": ["impl", "N", "B", "steps", "normals_s", "simulation_s", "gemm_s", "rng_share", "ours_over_gemm",
             "n_draws", "max_abs_z"],
}


def run_suite(quick: bool, sections=SECTIONS, progress: bool = True) -> dict:
    import importlib

    from tqdm.auto import tqdm

    results = {"quick": quick, "machine": machine(), "versions": versions(), "sections": {}, "wall_s": {}}
    for name in tqdm(sections, desc="benchmarks", disable=not progress):
        started = time.perf_counter()
        results["sections"][name] = importlib.import_module(f"benchmarks.{name}").run(quick)
        results["wall_s"][name] = time.perf_counter() - started
    if "rate_throughput" in results["sections"]:
        from benchmarks.rate_throughput import acceptance

        results["acceptance"] = acceptance(results["sections"]["rate_throughput"])
    return results


def to_markdown(results: dict) -> str:
    lines = ["# Benchmarks", "", f"Machine: {results['machine']['cpu']}, {results['machine']['cores']} cores, "
             f"Python {results['machine']['python']}.",
             "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + ".",
             "Quick mode (timings meaningless)." if results["quick"] else "", ""]
    for name, rows in results["sections"].items():
        lines += [f"## {name.replace('_', ' ')} ({results['wall_s'][name]:.0f} s)", "",
                  markdown_table(rows, COLUMNS[name]), ""]
    if results.get("acceptance"):
        lines += ["## Ratios the performance issue asks for", ""]
        lines += [f"- {label}: {value:.2f}" for label, value in results["acceptance"].items()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the suite runs")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"), help="output folder")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    results = run_suite(args.quick, args.sections, progress=not args.quiet)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "benchmarks-quick" if args.quick else "benchmarks"
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2, default=float))
    markdown = to_markdown(results)
    (out / f"{stem}.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
