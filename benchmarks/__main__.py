"""The benchmark suite: ``python -m benchmarks [SECTION ...] [--quick] [--out benchmarks/results]``.

Sections: rate-circuit simulation throughput against NumPy's GEMM (the limit), a plain
NumPy loop and Brian2; spiking circuits on each Brian2 target; wall time to train to the
rate-circuit tolerance; the closed-form optimum of linear circuits at K = 16, D = 64;
natural-image patches and the NUTS reference posterior at K = 32; networks of stochastic synapses;
JAX's random-number generators in the simulation (speed against GEMM, and a moment test);
effective samples per second of circuits, Gibbs, MALA and NUTS across posterior sizes and
condition numbers (``sampling``); recurrent circuits of 10^4 neurons x 1024 trials, memory
and throughput, and training at K = 256 (``scale``); trained escape-noise spiking circuits of
100 neurons, training steps per second and simulated seconds per wall second in JAX and
Brian2 (``trained_spiking``); the E/I ring circuit of 50 + 50 cells, training steps per second
and simulated seconds per wall second (``ring_ssn``).
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

SECTIONS = ("rate_throughput", "spiking_targets", "training_time", "optimum", "natural_images",
            "synapses", "prng", "sampling", "scale", "trained_spiking", "ring_ssn")
COLUMNS = {
    "rate_throughput": ["N", "B", "steps", "engine", "seconds_min", "seconds_median", "seconds_max",
                        "neuron_steps_per_s", "gflops"],
    "spiking_targets": ["workload", "target", "simulated_s", "first_run_s", "second_run_s", "simulated_s_per_wall_s"],
    "training_time": ["task", "steps", "seconds", "max_variance_error", "max_mean_error_sd", "meets_tolerance"],
    "optimum": ["K", "D", "architecture", "charge", "seconds", "objective", "kl_floor_ratio", "under_10_s"],
    "natural_images": ["workload", "seconds", "bar_s", "meets_bar", "max_rhat", "min_ess_bulk", "min_ess_tail",
                       "divergences"],
    "synapses": ["workload", "seconds", "first_run_s", "examples_per_s"],
    "sampling": ["K", "condition", "sampler", "chains", "steps", "wall_s", "ess_bulk_per_s", "ess_tail_per_s",
                 "ess_bulk", "exact_ess", "ess_bulk_per_tau", "max_rhat", "stationary_kl", "cold_start_s"],
    "scale": ["workload", "device", "seconds", "first_run_s", "per_second", "rate_units", "peak_rss_gib",
              "under_memory_bar"],
    "prng": ["impl", "N", "B", "steps", "normals_s", "simulation_s", "gemm_s", "rng_share", "ours_over_gemm",
             "n_draws", "max_abs_z"],
    "trained_spiking": ["workload", "engine", "trials", "seconds", "first_run_s", "per_second", "rate_units"],
    "ring_ssn": ["workload", "trials", "seconds", "first_run_s", "per_second", "rate_units"],
}


def run_suite(quick: bool, sections=SECTIONS, progress: bool = True) -> dict:
    import importlib

    from tqdm.auto import tqdm

    here = machine()
    results = {"quick": quick, "machine": here, "versions": versions(), "sections": {}, "wall_s": {},
               "section_machine": {name: here for name in sections}}
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
        lines += [f"## {name.replace('_', ' ')} ({results['wall_s'][name]:.0f} s)", ""]
        ran_on = results.get("section_machine", {}).get(name, results["machine"])
        if ran_on["cpu"] != results["machine"]["cpu"] or ran_on["cores"] != results["machine"]["cores"]:
            lines += [f"Run on another machine: {ran_on['cpu']}, {ran_on['cores']} cores.", ""]
        lines += [markdown_table(rows, COLUMNS[name]), ""]
    if "sampling" in results["sections"]:
        from benchmarks.sampling import COLD_START_KL, winners

        lines += [f"## Which sampler wins per wall second (bulk ESS; bias bar: stationary KL <= {COLD_START_KL} nats)",
                  "", markdown_table(winners(results["sections"]["sampling"]),
                                     ["K", "condition", "fastest", "fastest_ess_bulk_per_s", "fastest_stationary_kl",
                                      "fastest_within_bias_bar", "its_ess_bulk_per_s"]), ""]
    if results.get("acceptance"):
        lines += ["## Ratios the performance issue asks for", ""]
        lines += [f"- {label}: {value:.2f}" for label, value in results["acceptance"].items()]
    return "\n".join(lines) + "\n"


def merged(path: Path, results: dict) -> dict:
    """``results`` with the sections of an earlier run at ``path`` that it did not rerun, so
    that running one section updates the results file instead of replacing it. Each section
    keeps the machine it ran on (``section_machine``; the Markdown names it where it is not
    the latest run's). Sections measured with other package versions are not mixed in: then
    ``results`` alone is kept."""
    if not path.exists() or set(results["sections"]) == set(SECTIONS):
        return results
    earlier = json.loads(path.read_text())
    if earlier.get("versions") != results["versions"] or earlier.get("quick") != results["quick"]:
        print(f"{path} was written with other package versions (or another mode): replacing it")
        return results
    earlier_machines = {name: earlier["machine"] for name in earlier["sections"]}
    earlier_machines.update(earlier.get("section_machine", {}))
    combined = {**earlier, "machine": results["machine"],
                "sections": {**earlier["sections"], **results["sections"]},
                "wall_s": {**earlier["wall_s"], **results["wall_s"]},
                "section_machine": {**earlier_machines, **results["section_machine"]}}
    if "acceptance" in results:
        combined["acceptance"] = results["acceptance"]
    order = [name for name in SECTIONS if name in combined["sections"]]
    combined["sections"] = {name: combined["sections"][name] for name in order}
    return combined


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that the suite runs")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"), help="output folder")
    parser.add_argument("section_names", nargs="*", metavar="SECTION",
                        help=f"sections to run (default: all): {', '.join(SECTIONS)}")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, help="the same, as an option")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.section_names) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    sections = [*args.section_names, *(args.sections or [])] or list(SECTIONS)
    results = run_suite(args.quick, sections, progress=not args.quiet)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = "benchmarks-quick" if args.quick else "benchmarks"
    results = merged(out / f"{stem}.json", results)
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2, default=float))
    markdown = to_markdown(results)
    (out / f"{stem}.md").write_text(markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
