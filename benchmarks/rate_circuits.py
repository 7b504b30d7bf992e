"""Accuracy of trained rate circuits against the exact posterior, as a Markdown table.

    python -m benchmarks.rate_circuits [--seeds 1 2 3]

Runs the default ``linear-gaussian`` experiment for every architecture and seed (plus the
per-neuron charging of the cost for the correlated-noise circuits, and the ``gsm`` task) and
prints the KL to the exact posterior against the mean-field floor, with wall times.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

from simulations.experiments import run_gsm, run_linear_gaussian  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args(argv)
    print("| task | architecture | charge | seed | KL (nats) | mean-field floor | KL / floor "
          "| noise-corr match | mean error (sd) | variance ratio | wall time (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    runs = [("single-layer", "responses"), ("multi-layer", "responses"), ("recurrent", "responses"),
            ("multi-layer", "neurons"), ("recurrent", "neurons")]
    for architecture, charge in runs:
        for seed in args.seeds:
            try:
                ds = run_linear_gaussian(seed=seed, architecture=architecture, charge=charge, progress=False)
            except Exception as error:  # a degenerate objective may diverge: report it, keep going
                print(f"| linear-gaussian | {architecture} | {charge} | {seed} | failed: {error} |")
                continue
            kl, floor = float(ds.kl_moment_matched), float(ds.mean_field_floor)
            print(f"| linear-gaussian | {architecture} | {charge} | {seed} | {kl:.4f} | {floor:.4f} | {kl / floor:.3f} "
                  f"| {float(ds.noise_correlation_match):.3f} | {float(ds.mean_error_sd):.3f} "
                  f"| {float(ds.variance_ratio):.3f} | {ds.attrs['wall_time_s']:.1f} |")
    print()
    print("| task | architecture | seed | variance-contrast correlation | response slope | posterior slope "
          "| mean error (sd) | wall time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for architecture in ("single-layer", "multi-layer"):
        for seed in args.seeds:
            ds = run_gsm(seed=seed, architecture=architecture, progress=False)
            print(f"| gsm | {architecture} | {seed} | {float(ds.variance_contrast_correlation):.3f} "
                  f"| {float(ds.response_variance_slope):.4f} | {float(ds.posterior_variance_slope):.4f} "
                  f"| {float(ds.mean_error_sd):.3f} | {ds.attrs['wall_time_s']:.1f} |")


if __name__ == "__main__":
    main()
