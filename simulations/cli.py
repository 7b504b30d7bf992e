"""The ``sampling-circuits`` command.

    sampling-circuits run linear-gaussian --architecture recurrent --seed 1 --out lg.nc
    sampling-circuits run gsm --seed 1 --out gsm.nc
    sampling-circuits run boltzmann --units 5 --seed 1 --duration 100 --out bm.nc --plot bm.png
    sampling-circuits run spiking-circuit --from lg.nc --seed 1 --out spiking.nc
    sampling-circuits run ssn --seed 1 --out ssn.nc
    sampling-circuits sweep sweep.toml
    sampling-circuits figures onset contrast --out figures/
    sampling-circuits show lg.nc
    sampling-circuits info

Errors in the arguments or the data print one line (``error: ...``) and exit with status 2;
a training run that diverges prints its message and exits with status 1.
"""

from __future__ import annotations

import argparse
import os
import sys

# Keep JAX on the CPU unless the user chose otherwise (the defaults are small); this must be
# set before JAX is first imported, which the import below does.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from circuits.learning import CHARGES, PRECISION_SHAPES  # noqa: E402
from circuits.reliability import COST_FAMILIES  # noqa: E402

__all__ = ["main", "build_parser", "experiment_call"]

_METRIC_ORDER = ("kl_moment_matched", "mean_field_floor", "kl_true_posterior", "kl_floor_ratio", "kl_implied_posterior",
                 "implied_mean_field_floor", "objective_gap", "trained_objective", "optimal_objective",
                 "optimum_kl_floor_ratio", "optimum_kl_implied", "heldout_loglik_implied", "heldout_loglik_true",
                 "heldout_loglik_ml", "implied_marginal_kl_to_ml", "mean_error_sd", "variance_ratio",
                 "cov_relative_error", "noise_correlation_match", "coverage_50", "coverage_90",
                 "variance_contrast_correlation", "response_variance_slope", "posterior_variance_slope",
                 "kl_final", "kl_floor_final", "kl_gibbs_final", "kl_slope", "kl_conditional",
                 "kl_conditional_floor", "autocorrelation_time", "simulated_seconds_per_second", "lif_fit_error",
                 "max_mean_error_sd", "rate_max_mean_error_sd", "mean_variance_ratio_to_rate",
                 "max_variance_deviation_to_rate", "xu_jordan_error", "sigmoid_control_deviation",
                 "em_iterations", "em_seconds", "gradient_seconds", "gradient_iterations_to_1pct",
                 "final_relative_gap", "em_escape_iterations", "relu_top_direction_cosine",
                 "rfm_top_direction_cosine", "variability_top_in_span_A", "ssn_loss_mean", "ssn_loss_log_sd",
                 "ssn_loss_covariance")


_QUICK_HELP = "smoke run at small sizes (checks the pipeline, not the science)"

#: What ``run --quick`` changes, per experiment (keyword arguments of the experiment function);
#: an explicit --steps still wins.
QUICK = {
    "linear-gaussian": dict(steps=200, samples=50, n_test=4, n_train=2000, n_heldout=500),
    "gsm": dict(steps=200, samples=50, n_test=2, n_train=2000),
    "boltzmann": dict(duration=2.0, n_checkpoints=5),
    "spiking-circuit": dict(n_trials=40, window=0.2),
    "implicit-em": dict(n_samples=300, gradient_iterations=200),
    "agop": dict(dim=4),
    "ssn": dict(steps=10, n_images=8),
}


def _add_circuit_options(parser: argparse.ArgumentParser) -> None:
    from simulations.experiments import ARCHITECTURES

    parser.add_argument("--architecture", choices=ARCHITECTURES, default="single-layer")
    parser.add_argument("--seed", type=int, required=True, help="seed of everything random")
    parser.add_argument("--out", required=True, help="output netCDF file")
    parser.add_argument("--latents", type=int, default=4, help="K, latents = representation neurons")
    parser.add_argument("--inputs", type=int, default=8, help="D, input dimensions")
    parser.add_argument("--hidden", type=int, default=None, help="hidden width (multi-layer; default 2K)")
    parser.add_argument("--activation", choices=("linear", "relu", "softplus", "tanh"), default=None,
                        help="first-layer activation of feed-forward circuits (default: linear; relu for a "
                             "multi-layer circuit on the gsm task)")
    parser.add_argument("--cost", choices=COST_FAMILIES, default="log", help="reliability-cost family")
    parser.add_argument("--cost-strength", type=float, default=1.0, help="lambda (> 0)")
    parser.add_argument("--cost-exponent", type=float, default=None, help="rho of the power-law cost")
    parser.add_argument("--cost-scale", type=float, default=1.0, help="s of the power-law cost")
    parser.add_argument("--charge", choices=CHARGES, default="responses",
                        help="charge the reliability cost on the response noise covariance (the entropy: the "
                             "ELBO), on every noisy neuron ('neurons', degenerate), or 'local': every noise "
                             "source pays for its own sd and every neuron for its own activity")
    parser.add_argument("--activity-cost-hidden", type=float, default=None,
                        help="activity cost of each hidden neuron under --charge local (multi-layer; default: "
                             "the output neurons' coefficient)")
    parser.add_argument("--learn-decoder", action="store_true",
                        help="learn the decoder A from the data (random start; activity cost fixed at Q = I)")
    parser.add_argument("--learn-precision", action="store_true",
                        help="learn the decoding precision P (full Gaussian likelihood)")
    parser.add_argument("--precision-shape", choices=PRECISION_SHAPES, default="isotropic",
                        help="one learned precision for all inputs, or one per input (with --learn-precision)")
    parser.add_argument("--steps", type=int, default=None,
                        help="training steps (default 3000; 6000 with --charge local)")
    parser.add_argument("--samples", type=int, default=500, help="response samples per test stimulus")
    parser.add_argument("--test-stimuli", type=int, default=None, help="held-out stimuli (per contrast for gsm)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--quick", action="store_true", help=_QUICK_HELP)


def _clamp(text: str) -> dict[int, int]:
    """``"0=1,1=0"`` -> {0: 1, 1: 0}; ``"none"`` -> {}."""
    if text.strip().lower() == "none":
        return {}
    clamp = {}
    for item in text.split(","):
        unit, _, value = item.partition("=")
        try:
            clamp[int(unit)] = int(value)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--clamp takes UNIT=VALUE pairs like 0=1,1=0 or 'none'; got {text!r}") from None
    return clamp


def _add_boltzmann_parser(experiments) -> None:
    from circuits.brian_tools import TARGETS
    from circuits.spiking import NEURON_MODELS

    parser = experiments.add_parser("boltzmann", help="spike-based sampling of a random Boltzmann machine "
                                                      "vs exact enumeration (Brian2)")
    parser.add_argument("--units", type=int, default=5, help="K, number of binary units / neurons")
    parser.add_argument("--seed", type=int, required=True, help="seed of everything random")
    parser.add_argument("--duration", type=float, default=100.0, help="simulated seconds per trial")
    parser.add_argument("--neuron", choices=NEURON_MODELS, default="abstract", help="neuron model")
    parser.add_argument("--out", required=True, help="output netCDF file")
    parser.add_argument("--trials", type=int, default=1, help="independent chains simulated side by side")
    parser.add_argument("--clamp", type=_clamp, default=None,
                        help="observed units for the inference run, e.g. 0=1,1=0 (default), or 'none'")
    parser.add_argument("--tau", type=float, default=0.02, help="refractory period = PSP duration, seconds")
    parser.add_argument("--weight-scale", type=float, default=0.5, help="sd of the random couplings W")
    parser.add_argument("--bias-scale", type=float, default=0.5, help="sd of the random biases b")
    parser.add_argument("--target", choices=TARGETS, default="numpy", help="Brian2 code-generation target")
    parser.add_argument("--plot", default=None, help="also write the log-log KL-vs-time plot here (PNG, PDF)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--quick", action="store_true", help=_QUICK_HELP)


def _add_spiking_circuit_parser(experiments) -> None:
    from circuits.brian_tools import TARGETS

    parser = experiments.add_parser("spiking-circuit", help="spiking version (Poisson neurons, stochastic synapses) "
                                                            "of a trained single-layer linear-gaussian circuit")
    parser.add_argument("--from", dest="rate_results", required=True,
                        help="results file of 'run linear-gaussian --architecture single-layer'")
    parser.add_argument("--seed", type=int, required=True, help="Brian2 seed")
    parser.add_argument("--out", required=True, help="output netCDF file")
    parser.add_argument("--trials", type=int, default=500, help="presentations of each test stimulus")
    parser.add_argument("--window", type=float, default=1.0, help="counting window, seconds")
    parser.add_argument("--neuron", choices=("poisson", "lif"), default="poisson", help="ON / OFF neuron model")
    parser.add_argument("--target", choices=TARGETS, default="numpy", help="Brian2 code-generation target")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--quick", action="store_true", help=_QUICK_HELP)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that shows defaults in --help and reports a bad argument in one line."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sampling-circuits",
                                     description="Stochastic circuits trained under a cost on reliability, "
                                                 "scored against exact Bayesian posteriors.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a named experiment and write a netCDF file")
    experiments = run.add_subparsers(dest="experiment", required=True)
    parser.run_parsers = experiments.choices  # experiment name -> its parser (read by the sweep)
    lg = experiments.add_parser("linear-gaussian", help="circuit vs the exact linear-Gaussian posterior")
    _add_circuit_options(lg)
    lg.add_argument("--noise-std", type=float, default=1.0, help="observation noise sd of the task")
    lg.add_argument("--prior", choices=("identity", "correlated"), default="identity",
                    help="prior covariance of the latents: identity, or a random correlation matrix")
    lg.add_argument("--prior-correlation", type=float, default=None,
                    help="correlation scale in [0, 1) of --prior correlated (default 0.5)")
    gsm = experiments.add_parser("gsm", help="circuit vs the exact Gaussian-scale-mixture posterior")
    _add_circuit_options(gsm)
    gsm.add_argument("--noise-std", type=float, default=0.5, help="observation noise sd of the task")
    gsm.add_argument("--contrast", type=float, default=None,
                     help="test at this one contrast only (default: 0.25, 0.5, 1, 2 and 4)")
    _add_boltzmann_parser(experiments)
    _add_spiking_circuit_parser(experiments)
    implicit = experiments.add_parser("implicit-em", help="gradient learning as EM on a Gaussian mixture")
    implicit.add_argument("--seed", type=int, required=True, help="seed of everything random")
    implicit.add_argument("--out", required=True, help="output netCDF file")
    implicit.add_argument("--plot", default=None, help="also write the log-likelihood plot here")
    implicit.add_argument("--quiet", action="store_true", help="no progress bar")
    implicit.add_argument("--quick", action="store_true", help=_QUICK_HELP)
    agop = experiments.add_parser("agop", help="the Neural Feature Ansatz (AGOP) on networks, the RFM and a circuit")
    agop.add_argument("--seed", type=int, required=True, help="seed of everything random")
    agop.add_argument("--out", required=True, help="output netCDF file")
    agop.add_argument("--from", dest="rate_results", default=None,
                      help="optional results file of a feed-forward run gsm / run linear-gaussian circuit")
    agop.add_argument("--plot", default=None, help="also write the correlation-vs-exponent plot here")
    agop.add_argument("--quiet", action="store_true", help="no progress bar")
    agop.add_argument("--quick", action="store_true", help=_QUICK_HELP)
    ssn = experiments.add_parser("ssn", help="stochastic E/I circuit (SSN) trained to sample the GSM posterior")
    ssn.add_argument("--seed", type=int, required=True, help="seed of everything random")
    ssn.add_argument("--out", required=True, help="output netCDF file")
    ssn.add_argument("--objective", choices=("moments", "mean"), default="moments",
                     help="match the posterior's mean, variance and covariance, or its mean only (control)")
    ssn.add_argument("--steps", type=int, default=1200, help="training steps")
    ssn.add_argument("--quiet", action="store_true", help="no progress bar")
    ssn.add_argument("--quick", action="store_true", help=_QUICK_HELP)
    figures = commands.add_parser("figures", help="build figures: an image per format and the netCDF behind it")
    figures.add_argument("names", nargs="*", metavar="NAME", help="figures to build (default: all); "
                         "see 'sampling-circuits figures --list'")
    figures.add_argument("--list", action="store_true", help="list the figures and exit")
    figures.add_argument("--out", default="figures", help="output folder (default: figures)")
    figures.add_argument("--seed", type=int, default=1, help="seed of everything random")
    figures.add_argument("--quick", action="store_true", help="small sizes, for CI (not the published figure)")
    figures.add_argument("--formats", default="png,pdf", help="comma-separated image formats (png, pdf)")
    figures.add_argument("--quiet", action="store_true", help="no progress bar")
    sweep = commands.add_parser("sweep", help="run a grid of experiments on dask.distributed (resumable)")
    sweep.add_argument("config", help="sweep TOML file (experiment, out, [fixed], [grid])")
    sweep.add_argument("--scheduler", default=None, help="address of a dask scheduler (default: a LocalCluster)")
    sweep.add_argument("--workers", type=int, default=2, help="worker processes of the LocalCluster")
    sweep.add_argument("--retries", type=int, default=0, help="retries of a failed point")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")
    commands.add_parser("info", help="versions, JAX devices, Brian2 target and cache locations")
    bench = commands.add_parser("bench", help="run the benchmark suite (from a source checkout)")
    bench.add_argument("--quick", action="store_true", help="tiny sizes: checks that the suite runs")
    bench.add_argument("--out", default=None, help="output folder (default benchmarks/results)")
    show = commands.add_parser("show", help="print the configuration and metrics of a results file")
    show.add_argument("path")
    return parser


def _experiment_kwargs(args) -> dict:
    kwargs = dict(seed=args.seed, n_latent=args.latents, n_input=args.inputs, noise_std=args.noise_std,
                  progress=not args.quiet, architecture=args.architecture, n_hidden=args.hidden,
                  cost=args.cost, cost_strength=args.cost_strength, cost_exponent=args.cost_exponent,
                  cost_scale=args.cost_scale, charge=args.charge, steps=args.steps, samples=args.samples,
                  activity_cost_hidden=args.activity_cost_hidden, learn_decoder=args.learn_decoder,
                  learn_precision=args.learn_precision, precision_shape=args.precision_shape)
    if getattr(args, "prior", None) is not None:
        kwargs["prior"] = args.prior
        kwargs["prior_correlation"] = args.prior_correlation
    if args.activation is not None:
        kwargs["activation"] = args.activation
    if args.test_stimuli is not None:
        kwargs["n_test"] = args.test_stimuli
    if getattr(args, "contrast", None) is not None:
        kwargs["contrast_levels"] = (args.contrast,)
    return kwargs


def metrics_table(ds) -> str:
    """A two-column text table of the scalar metrics in a results Dataset."""
    rows = [(name, float(ds[name]), ds[name].attrs.get("units", "")) for name in _METRIC_ORDER if name in ds]
    if not rows:
        return "(no scalar metrics)"
    width = max(len(name) for name, _, _ in rows)
    lines = [f"{'metric':<{width}}  {'value':>10}  units", "-" * (width + 19)]
    lines += [f"{name:<{width}}  {value:>10.4g}  {units}" for name, value, units in rows]
    return "\n".join(lines)


def _boltzmann_kwargs(args) -> dict:
    return dict(seed=args.seed, n_units=args.units, duration=args.duration, neuron=args.neuron,
                n_trials=args.trials, clamp=args.clamp, tau=args.tau, weight_scale=args.weight_scale,
                bias_scale=args.bias_scale, target=args.target, progress=not args.quiet)


def experiment_call(args):
    """(experiment function, keyword arguments, label) for parsed ``run`` arguments; the sweep
    runs its points through this too, so a sweep key means exactly what the option means."""
    from simulations.experiments import EXPERIMENTS

    if args.experiment == "boltzmann":
        kwargs, label = _boltzmann_kwargs(args), f"{args.neuron} neuron"
    elif args.experiment == "implicit-em":
        kwargs, label = dict(seed=args.seed, progress=not args.quiet), "mixture"
    elif args.experiment == "agop":
        kwargs, label = dict(seed=args.seed, rate_results=args.rate_results, progress=not args.quiet), "networks"
    elif args.experiment == "ssn":
        kwargs = dict(seed=args.seed, objective=args.objective, steps=args.steps, progress=not args.quiet)
        label = f"objective {args.objective}"
    elif args.experiment == "spiking-circuit":
        kwargs = dict(rate_results=args.rate_results, seed=args.seed, n_trials=args.trials, window=args.window,
                      neuron=args.neuron, target=args.target, progress=not args.quiet)
        label = f"{args.neuron} neurons from {args.rate_results}"
    else:
        kwargs, label = _experiment_kwargs(args), args.architecture
    if getattr(args, "quick", False):
        explicit_steps = kwargs.get("steps") if args.experiment in ("linear-gaussian", "gsm") else None
        kwargs.update(QUICK[args.experiment])
        if explicit_steps is not None:
            kwargs["steps"] = explicit_steps
        label += " (quick)"
    return EXPERIMENTS[args.experiment], kwargs, label


#: Experiments whose --from file must come from one of these experiments.
_FROM_EXPERIMENTS = {"spiking-circuit": ("linear-gaussian",), "agop": ("linear-gaussian", "gsm")}


def check_paths(args) -> None:
    """Check the output path and any input file before work starts (ValueError naming the option)."""
    from simulations.results import check_output_path, load_results

    check_output_path(args.out)
    source = getattr(args, "rate_results", None)
    if source is not None:
        load_results(source, _FROM_EXPERIMENTS[args.experiment])


def _run(args) -> int:
    from circuits.learning import TrainingDiverged
    from simulations.results import save

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
        ax.figure.savefig(args.plot, dpi=150)
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
    command = [sys.executable, "-m", "benchmarks"] + (["--quick"] if args.quick else [])
    command += ["--out", args.out] if args.out else []
    return subprocess.run(command, cwd=root).returncode


def _info(args) -> int:
    print("\n".join(info_lines()))
    return 0


def _show(args) -> int:
    from simulations.results import config_of, load_results

    ds = load_results(args.path)
    print(f"{ds.attrs['experiment']} (sampling-circuits {ds.attrs['package_version']})")
    for key, value in sorted(config_of(ds).items()):
        print(f"  {key} = {value}")
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
