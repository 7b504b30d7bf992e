"""The ``sampling-circuits`` command.

    sampling-circuits run linear-gaussian --architecture recurrent --seed 1 --out lg.nc
    sampling-circuits run gsm --seed 1 --out gsm.nc
    sampling-circuits run boltzmann --units 5 --seed 1 --duration 100 --out bm.nc --plot bm.png
    sampling-circuits run spiking-circuit --from lg.nc --seed 1 --out spiking.nc
    sampling-circuits run ssn --seed 1 --out ssn.nc
    sampling-circuits sweep sweep.toml
    sampling-circuits figures onset contrast --out figures/
    sampling-circuits patches --out patches.nc --size 16 --components 64
    sampling-circuits reference patches.nc --model sparse --latents 32 --out reference.nc
    sampling-circuits show lg.nc
    sampling-circuits info

Errors in the arguments or the data print one line (``error: ...``) and exit with status 2;
a training run that diverges prints its message and exits with status 1.
"""

from __future__ import annotations

import argparse
import os
import sys

# The registry sets JAX_PLATFORMS (CPU unless the user chose otherwise) before anything imports JAX.
from simulations.registry import COUNT, FROM_EXPERIMENTS, SEED, ArgumentParser, add_run_parsers, experiment_call, number

__all__ = ["main", "build_parser", "experiment_call"]

_METRIC_ORDER = ("median_gabor_r_squared", "ica_median_gabor_r_squared", "control_median_gabor_r_squared",
                 "active_units", "reference_rhat_max", "reference_ess_bulk_min", "reference_divergences",
                 "kl_moment_matched", "mean_field_floor", "kl_true_posterior", "kl_floor_ratio", "kl_implied_posterior",
                 "implied_mean_field_floor", "objective_gap", "trained_objective", "optimal_objective",
                 "optimum_kl_floor_ratio", "optimum_kl_implied", "heldout_loglik_implied", "heldout_loglik_true",
                 "heldout_loglik_ml", "implied_marginal_kl_to_ml", "mean_error_sd", "variance_ratio",
                 "cov_relative_error", "noise_correlation_match", "noise_correlation_slope",
                 "noise_correlation_rms", "coverage_50", "coverage_90",
                 "variance_contrast_correlation", "response_variance_slope", "posterior_variance_slope",
                 "response_variance_input_slope", "posterior_variance_input_slope",
                 "kl_final", "kl_floor_final", "kl_gibbs_final", "kl_slope", "kl_conditional",
                 "kl_conditional_floor", "autocorrelation_time", "simulated_seconds_per_second", "lif_fit_error",
                 "max_mean_error_sd", "rate_max_mean_error_sd", "mean_variance_ratio_to_rate",
                 "max_variance_deviation_to_rate", "xu_jordan_error", "sigmoid_control_deviation",
                 "em_iterations", "em_seconds", "gradient_seconds", "gradient_iterations_to_1pct",
                 "final_relative_gap", "em_escape_iterations", "relu_top_direction_cosine",
                 "rfm_top_direction_cosine", "variability_top_in_span_A", "ssn_loss_mean", "ssn_loss_log_sd",
                 "ssn_loss_covariance", "test_accuracy", "test_accuracy_at_mean", "rms_weight_std",
                 "slope_variance_on_hessian_0", "slope_variance_on_hessian_0_low",
                 "slope_variance_on_hessian_0_high", "slope_variance_on_importance_0", "test_loss", "test_loss_at_mean",
                 "rate_kl_true_posterior", "kl_bar", "kl_covariance_term", "kl_sampling_floor", "mean_rate",
                 "fano_factor", "readout_variance_slope", "readout_variance_slope_se", "rate_variance_slope",
                 "noise_correlation_rms_error", "stationary_kl", "ess_per_tau", "langevin_ess_per_tau",
                 "optimal_ess_per_tau", "ess_per_tau_ratio",
                 "empirical_ess_per_tau", "henrici_departure", "henrici_departure_stationary_metric",
                 "irreversibility", "onset_time_median", "langevin_onset_time_median", "mean_kl_mixture",
                 "gaussian_circuit_mean_kl", "best_gaussian_mean_kl",
                 "max_variance_ratio_deviation", "training_time")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog="sampling-circuits",
                            description="Stochastic circuits trained under a cost on reliability, "
                                        "scored against exact Bayesian posteriors.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a named experiment and write a netCDF file")
    parser.run_parsers = add_run_parsers(run)  # experiment name -> its parser
    figures = commands.add_parser("figures", help="build figures: an image per format and the netCDF behind it")
    figures.add_argument("names", nargs="*", metavar="NAME", help="figures to build (default: all); "
                         "see 'sampling-circuits figures --list'")
    figures.add_argument("--list", action="store_true", help="list the figures and exit")
    figures.add_argument("--out", default="figures", help="output folder (default: figures)")
    figures.add_argument("--seed", type=SEED, default=1, help="seed of everything random")
    figures.add_argument("--quick", action="store_true", help="small sizes, for CI (not the published figure)")
    figures.add_argument("--formats", default="png,pdf", help="comma-separated image formats (png, pdf)")
    figures.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep = commands.add_parser("sweep", help="run a grid of experiments on dask.distributed (resumable)")
    sweep.add_argument("config", help="sweep TOML file (experiment, out, [fixed], [grid])")
    sweep.add_argument("--scheduler", default=None, help="address of a dask scheduler (default: a LocalCluster)")
    sweep.add_argument("--workers", type=COUNT, default=2, help="worker processes of the LocalCluster")
    sweep.add_argument("--retries", type=number(int, minimum=0), default=0, help="retries of a failed point")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    patches = commands.add_parser("patches", help="natural-image patches, grey log intensity, DC removed, "
                                                  "PCA-whitened, to a netCDF file")
    patches.add_argument("--out", required=True, help="netCDF file to write")
    patches.add_argument("--images", default=None, metavar="DIR",
                         help="folder of PNG / JPEG / TIFF / van Hateren .iml images (default: the photographs "
                              "bundled with scikit-image)")
    patches.add_argument("--size", type=COUNT, default=16, help="patch side, pixels (default 16)")
    patches.add_argument("--count", type=number(int, minimum=2), default=50_000, help="patches (default 50000)")
    patches.add_argument("--components", type=COUNT, default=64,
                         help="principal components kept (default 64; at most size^2 - 1)")
    patches.add_argument("--seed", type=SEED, default=1, help="seed of the patch positions")
    reference = commands.add_parser("reference", help="fit a GSM or a sparse-coding model to a patches file and "
                                                      "sample its posterior on held-out patches by NUTS")
    reference.add_argument("patches", help="netCDF file written by 'sampling-circuits patches'")
    reference.add_argument("--out", required=True, help="netCDF file to write")
    reference.add_argument("--model", choices=("gsm", "sparse"), required=True,
                           help="gsm: ICA filters + EM, checked against its exact posterior; sparse: Laplace prior, "
                                "learned dictionary")
    reference.add_argument("--latents", type=COUNT, required=True, help="latents K (gsm: equal to --components)")
    reference.add_argument("--components", type=COUNT, default=None,
                           help="leading whitened components used (default: all in the file)")
    reference.add_argument("--observations", type=COUNT, default=16, help="held-out patches sampled (default 16)")
    reference.add_argument("--chains", type=number(int, minimum=2), default=4, help="NUTS chains (default 4)")
    reference.add_argument("--draws", type=number(int, minimum=4), default=1000,
                           help="kept draws per chain (default 1000)")
    reference.add_argument("--warmup", type=COUNT, default=1000, help="warm-up iterations per chain (default 1000)")
    reference.add_argument("--fit-patches", type=number(int, minimum=2), default=10_000,
                           help="patches the model is fitted on (default 10000)")
    reference.add_argument("--noise-std", type=number(float, above=0.0), default=0.3,
                           help="sparse model's noise sd, whitened units (default 0.3)")
    reference.add_argument("--seed", type=SEED, default=1, help="seed of the fit and of NUTS")
    reference.add_argument("--quiet", action="store_true", help="no progress bar")
    commands.add_parser("info", help="versions, JAX devices, Brian2 target and cache locations")
    bench = commands.add_parser("bench", help="run the benchmark suite (from a source checkout)")
    bench.add_argument("sections", nargs="*", metavar="SECTION",
                       help="sections to run (default: all; `python -m benchmarks --help` lists them)")
    bench.add_argument("--quick", action="store_true", help="tiny sizes: checks that the suite runs")
    bench.add_argument("--out", default=None, help="output folder (default benchmarks/results)")
    show = commands.add_parser("show", help="print the configuration and metrics of a results file")
    show.add_argument("path")
    return parser


def metrics_table(ds) -> str:
    """A two-column text table of the scalar metrics in a results Dataset."""
    rows = [(name, float(ds[name]), ds[name].attrs.get("units", "")) for name in _METRIC_ORDER if name in ds]
    if not rows:
        return "(no scalar metrics)"
    width = max(len(name) for name, _, _ in rows)
    lines = [f"{'metric':<{width}}  {'value':>10}  units", "-" * (width + 19)]
    lines += [f"{name:<{width}}  {value:>10.4g}  {units}" for name, value, units in rows]
    return "\n".join(lines)


def check_paths(args) -> None:
    """Check the output path and any input file before work starts (ValueError naming the option)."""
    from simulations.results import check_figure_path, check_output_path, load_results

    check_output_path(args.out)
    if getattr(args, "plot", None):
        check_figure_path(args.plot)
    source = getattr(args, "rate_results", None)
    if source is not None:
        load_results(source, FROM_EXPERIMENTS[args.experiment])


def _run(args) -> int:
    from circuits.learning import TrainingDiverged
    from simulations.results import save, save_figure

    check_paths(args)
    experiment, kwargs, label = experiment_call(args)
    try:
        ds = experiment(**kwargs)
    except TrainingDiverged as error:
        print(f"training diverged: {error}", file=sys.stderr)
        return 1
    path = save(ds, args.out)
    print(f"{args.experiment} / {label} / seed {args.seed}: {ds.attrs['wall_time_s']:.1f} s, written to {path}")
    if getattr(args, "plot", None):
        from analysis.plots import PLOTS

        ax = PLOTS[args.experiment](ds)
        save_figure(ax.figure, args.plot)
        print(f"plot written to {args.plot}")
    print(metrics_table(ds))
    return 0


def _sweep(args) -> int:
    from simulations.sweep import read_config, run_sweep

    config = read_config(args.config)
    counts = run_sweep(config, scheduler=args.scheduler, n_workers=args.workers, retries=args.retries,
                       progress=not args.quiet)
    print(f"sweep {config.out}: {counts['done']} done, {counts['skipped']} already finished, "
          f"{counts['failed']} failed")
    if counts["failed"]:
        print(f"the errors are in {config.out / 'points'}/*.error.json; rerun the same command to retry them",
              file=sys.stderr)
        return 1
    return 0


def _figures(args) -> int:
    import time

    from tqdm.auto import tqdm

    from simulations.figures import FIGURES, make

    if args.list:
        for name, module in FIGURES.items():
            print(f"{name:<20} {module.DESCRIPTION}")
        return 0
    unknown = [name for name in args.names if name not in FIGURES]
    if unknown:
        raise ValueError(f"unknown figure(s) {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    formats = tuple(fmt.strip() for fmt in args.formats.split(",") if fmt.strip())
    names = args.names or list(FIGURES)
    bar = tqdm(names, desc="figures", unit="figure", disable=args.quiet)
    for name in bar:
        bar.set_postfix_str(name)
        started = time.perf_counter()
        paths = make(FIGURES[name], args.out, seed=args.seed, quick=args.quick, formats=formats)
        tqdm.write(f"{name}: {time.perf_counter() - started:.1f} s, wrote {', '.join(str(p) for p in paths)}")
    return 0


def _patches(args) -> int:
    from simulations.natural_images import make_patches
    from simulations.results import check_output_path, save

    check_output_path(args.out)
    ds = make_patches(args.seed, images=args.images, size=args.size, n_patches=args.count,
                      n_components=args.components)
    path = save(ds, args.out)
    print(f"patches: {ds.sizes['patch']} of {args.size} x {args.size} pixels from {ds.sizes['image']} images, "
          f"{ds.sizes['component']} components, {ds.attrs['wall_time_s']:.1f} s, written to {path}")
    return 0


def _reference(args) -> int:
    from simulations.natural_images import posterior_reference
    from simulations.results import check_output_path, load_results, save

    check_output_path(args.out)
    patches = load_results(args.patches, ("patches",))
    ds = posterior_reference(patches, args.model, args.latents, args.seed, n_observations=args.observations,
                             n_components=args.components, n_chains=args.chains, n_draws=args.draws,
                             n_warmup=args.warmup, n_fit=args.fit_patches, noise_std=args.noise_std,
                             progress=not args.quiet)
    path = save(ds, args.out)
    converged = int(ds["converged"].sum())
    line = (f"reference: {args.model}, K = {args.latents}, {converged} of {ds.sizes['observation']} observations "
            f"converged (max R-hat {float(ds['rhat'].max()):.4f}, min bulk ESS {float(ds['ess_bulk'].min()):.0f}, "
            f"{int(ds['divergences'].sum())} divergences)")
    if "kl_moments" in ds:
        line += (f", KL to the exact posterior {float(ds['kl_moments'].max()):.4f} nats at most "
                 f"(sampling floor {float(ds['kl_floor'].max()):.4f})")
    print(f"{line}, {ds.attrs['wall_time_s']:.1f} s, written to {path}")
    return 0


def info_lines() -> list[str]:
    """What ``sampling-circuits info`` prints: one ``name: value`` line each."""
    import platform
    from importlib import metadata

    from circuits.brian_tools import cache_directory
    from simulations.results import package_version

    lines = [f"sampling-circuits: {package_version()}", f"python: {platform.python_version()} ({sys.executable})",
             f"platform: {platform.platform()}"]
    for package in ("numpy", "scipy", "xarray", "h5netcdf", "jax", "jaxlib", "optax", "brian2", "dask",
                    "distributed", "arviz-stats", "matplotlib"):
        try:
            lines.append(f"{package}: {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            lines.append(f"{package}: not installed")
    import jax

    lines.append(f"jax devices: {', '.join(str(device) for device in jax.devices())} "
                 f"(JAX_PLATFORMS={os.environ.get('JAX_PLATFORMS', '')})")
    import brian2

    lines.append(f"brian2 default target: {brian2.prefs.codegen.target} "
                 "(the spiking experiments take --target numpy|cython|cpp_standalone)")
    lines.append(f"compiled-code cache: {cache_directory()} (cython/ and standalone/; "
                 "set SAMPLING_CIRCUITS_CACHE to move it)")
    return lines


def _bench(args) -> int:
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    if not (root / "benchmarks" / "__main__.py").exists():
        print("error: the benchmarks live in the source checkout (benchmarks/); run this from an editable "
              "install of the repository", file=sys.stderr)
        return 2
    command = [sys.executable, "-m", "benchmarks", *args.sections] + (["--quick"] if args.quick else [])
    command += ["--out", args.out] if args.out else []
    return subprocess.run(command, cwd=root).returncode


def _info(args) -> int:
    print("\n".join(info_lines()))
    return 0


def _show(args) -> int:
    from simulations.results import CONFIG_UNITS, config_of, load_results

    ds = load_results(args.path)
    print(f"{ds.attrs['experiment']} (sampling-circuits {ds.attrs['package_version']})")
    for key, value in sorted(config_of(ds).items()):
        units = f" {CONFIG_UNITS[key]}" if key in CONFIG_UNITS and isinstance(value, int | float) else ""
        print(f"  {key} = {value}{units}")
    print(metrics_table(ds))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except BrokenPipeError:
        # The reader went away (e.g. '| head'): stop quietly, as Unix tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _dispatch(args) -> int:
    try:
        if args.command == "run":
            return _run(args)
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "figures":
            return _figures(args)
        if args.command == "patches":
            return _patches(args)
        if args.command == "reference":
            return _reference(args)
        if args.command == "info":
            return _info(args)
        if args.command == "bench":
            return _bench(args)
        return _show(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
