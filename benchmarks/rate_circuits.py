"""Accuracy of trained rate circuits against the exact posterior, as a Markdown table.

    python -m benchmarks.rate_circuits [--seeds 1 2 3]

First the log-log slopes of trained single-layer noise variance against diag(H) for each
cost family (predicted -2 / (rho + 2)); then the default ``linear-gaussian`` experiment for
every architecture and seed (plus the per-neuron charging of the cost for the
correlated-noise circuits, and the ``gsm`` task), printing the KL to the exact posterior
against the mean-field floor, with wall times.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402

from analysis.generative import LinearGaussian  # noqa: E402
from circuits import FeedforwardCircuit, LogCost, Objective, PowerLawCost, TrainingConfig, train  # noqa: E402
from simulations.experiments import run_gsm, run_linear_gaussian  # noqa: E402


def power_law_slopes(seed: int = 7) -> None:
    """Log-log slope of trained single-layer noise variance against diag(H), per cost."""
    rng = np.random.default_rng(seed)
    n_latent = 6
    task = LinearGaussian(rng.normal(size=(12, n_latent)) * np.geomspace(0.3, 3.0, n_latent), 1.0)
    _, data = task.sample(20_000, rng)
    precision_diag = np.diag(task.posterior_precision)
    print("| cost | rho | predicted slope | trained slope | max relative error vs optimum |")
    print("|---|---|---|---|---|")
    for cost in (PowerLawCost(0.5), PowerLawCost(2 / 3), PowerLawCost(4 / 3), PowerLawCost(2.0), LogCost()):
        objective = Objective.for_linear_gaussian(task.A, task.noise_std, task.prior_cov, cost)
        params, _ = train(FeedforwardCircuit(12, n_latent), objective, data, jax.random.PRNGKey(seed),
                          TrainingConfig(steps=3000), progress=False)
        variance = np.exp(2 * np.asarray(params["log_noise_std"], dtype=float))
        rho = getattr(cost, "exponent", 0.0)
        predicted = -2.0 / (rho + 2.0)
        slope = np.polyfit(np.log(precision_diag), np.log(variance), 1)[0]
        error = np.max(np.abs(variance / cost.optimal_variance(precision_diag) - 1))
        print(f"| {type(cost).__name__} | {rho:.3f} | {predicted:.4f} | {slope:.4f} | {error:.4f} |")
    print()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--only-slopes", action="store_true", help="just the power-law slope table")
    args = parser.parse_args(argv)
    power_law_slopes()
    if args.only_slopes:
        return
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
