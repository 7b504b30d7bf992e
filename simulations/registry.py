"""The experiment registry: every ``run`` experiment's function, its command-line options and
the mapping from parsed options to keyword arguments.

The command line (``simulations.cli``) and the sweep (``simulations.sweep``) both read it, so a
sweep key means exactly what the option means, and imports flow one way:
cli -> sweep -> registry -> experiment modules -> tasks -> circuits / analysis.
"""

from __future__ import annotations

import argparse
import math
import os

# Keep JAX on the CPU unless the user chose otherwise (the defaults are small); set before the
# experiments first import JAX, in the command and in every sweep worker alike.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

from circuits.learning import CHARGES, PRECISION_SHAPES  # noqa: E402
from circuits.reliability import COST_FAMILIES  # noqa: E402
from circuits.ring_ssn import INPUT_STAGES  # noqa: E402

__all__ = ["ArgumentParser", "add_run_parsers", "build_run_parser", "experiment_call", "experiments", "QUICK",
           "FROM_EXPERIMENTS"]

#: Experiments whose --from file must come from one of these experiments.
FROM_EXPERIMENTS = {"spiking-circuit": ("linear-gaussian",), "agop": ("linear-gaussian", "gsm")}


def experiments() -> dict:
    """Experiment name -> the function that runs it (imported on first use: they pull in JAX and Brian2)."""
    from simulations.experiments import run_gsm, run_linear_gaussian
    from simulations.fast_sampling import run_fast_sampling
    from simulations.gsm_gain import run_gsm_gain
    from simulations.learning_experiments import run_agop, run_implicit_em
    from simulations.natural_image_circuits import run_natural_images
    from simulations.ring_ssn import run_ring_ssn
    from simulations.spiking_experiments import run_boltzmann, run_spiking_circuit
    from simulations.ssn_experiments import run_ssn
    from simulations.synapse_experiments import run_synapses
    from simulations.trained_spiking import run_trained_spiking

    return {"linear-gaussian": run_linear_gaussian, "gsm": run_gsm, "boltzmann": run_boltzmann,
            "spiking-circuit": run_spiking_circuit, "implicit-em": run_implicit_em, "agop": run_agop,
            "ssn": run_ssn, "natural-images": run_natural_images, "synapses": run_synapses,
            "fast-sampling": run_fast_sampling, "trained-spiking": run_trained_spiking, "gsm-gain": run_gsm_gain,
            "ring-ssn": run_ring_ssn}


_QUICK_HELP = "smoke run at small sizes (checks the pipeline, not the science)"

#: What ``run --quick`` changes, per experiment (keyword arguments of the experiment function);
#: an explicit --steps still wins.
QUICK = {
    # The closed-form optimum is skipped: its compilation would double a smoke run.
    "linear-gaussian": dict(steps=200, samples=50, n_test=4, n_train=2000, n_heldout=500, closed_form=False),
    "gsm": dict(steps=200, samples=50, n_test=2, n_train=2000),
    "boltzmann": dict(duration=2.0, n_checkpoints=5),
    "spiking-circuit": dict(n_trials=40, window=0.2),
    "implicit-em": dict(n_samples=300, gradient_iterations=200),
    "agop": dict(dim=4),
    "ssn": dict(steps=10, n_images=8),
    "ring-ssn": dict(steps=5, ring_size=8, n_images=2, test_stimuli=2, test_trials=4, batch_stimuli=4),
    "natural-images": dict(steps=200, samples=50, n_test=4, n_train=2000, n_reference_draws=100),
    "synapses": dict(steps=300, n_train=2000, n_test=500, importance_epochs=1),
    "fast-sampling": dict(steps=100, n_latent=4, n_train=1000, n_test=2),
    "trained-spiking": dict(steps=50, n_train=1000, n_test=2, test_trials=20, compare_rate=False),
    "gsm-gain": dict(steps=200, samples=50, n_test=2, n_train=2000, compare=False),
}


def number(base: type, minimum: float | None = None, above: float | None = None, below: float | None = None,
           maximum: float | None = None):
    """An argparse ``type``: a finite ``base`` (int or float) in a range, refused in the
    option's own name (argparse prefixes the flag: "argument --latents: must be >= 1, got 0").
    The sweep reads ``.base`` and applies the same check to each grid value."""
    def parse(text):
        try:
            value = base(text)
        except (TypeError, ValueError):
            raise argparse.ArgumentTypeError(f"expected {'an integer' if base is int else 'a number'}, "
                                             f"got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be finite, got {text}")
        if minimum is not None and value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {text}")
        if above is not None and value <= above:
            raise argparse.ArgumentTypeError(f"must be > {above}, got {text}")
        if below is not None and value >= below:
            raise argparse.ArgumentTypeError(f"must be < {below}, got {text}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be <= {maximum:g}, got {text}")
        return value

    parse.base = base
    parse.__name__ = base.__name__
    return parse


#: The option types most options share.
COUNT, POSITIVE, NON_NEGATIVE = number(int, minimum=1), number(float, above=0), number(float, minimum=0)
SEED = number(int, minimum=0)


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    """--seed, --out, --quiet and --quick, which every experiment takes."""
    parser.add_argument("--seed", type=SEED, required=True, help="seed of everything random")
    parser.add_argument("--out", required=True, help="output netCDF file")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--quick", action="store_true", help=_QUICK_HELP)


def _add_circuit_options(parser: argparse.ArgumentParser, latents: int = 4, inputs: bool = True) -> None:
    from simulations.tasks import ARCHITECTURES

    _add_common_options(parser)
    parser.add_argument("--architecture", choices=ARCHITECTURES, default="single-layer")
    parser.add_argument("--latents", type=COUNT, default=latents, help="K, latents = representation neurons")
    if inputs:
        parser.add_argument("--inputs", type=COUNT, default=8, help="D, input dimensions")
    parser.add_argument("--hidden", type=COUNT, default=None, help="hidden width (multi-layer; default 2K)")
    parser.add_argument("--activation", choices=("linear", "relu", "softplus", "tanh"), default=None,
                        help="first-layer activation of feed-forward circuits (default: linear; relu for a "
                             "multi-layer circuit on the gsm task)")
    parser.add_argument("--cost", choices=COST_FAMILIES, default="log", help="reliability-cost family")
    parser.add_argument("--cost-strength", type=POSITIVE, default=1.0, help="lambda (> 0)")
    parser.add_argument("--cost-exponent", type=POSITIVE, default=None, help="rho of the power-law cost")
    parser.add_argument("--cost-scale", type=POSITIVE, default=1.0, help="s of the power-law cost")
    parser.add_argument("--charge", choices=CHARGES, default="responses",
                        help="charge the reliability cost on the response noise covariance (the entropy: the "
                             "ELBO), on every noisy neuron ('neurons', degenerate), or 'local': every noise "
                             "source pays for its own sd and every neuron for its own activity")
    parser.add_argument("--noise-site", choices=("neurons", "synapses", "both"), default="neurons",
                        help="where the noise is: each neuron's own, every synapse's (w ~ N(mu, s^2) drawn per "
                             "trial, each synapse paying its own cost under --charge neurons or local; both layers "
                             "of a multi-layer circuit, the input synapses of a recurrent one), or both (synapses: "
                             "linear activation only; multi-layer: --charge neurons or local)")
    parser.add_argument("--synapse-draws", choices=("trial", "minibatch"), default="trial",
                        help="in training, draw the noisy synapses afresh for every trial or once per minibatch "
                             "(the published protocol; with --noise-site synapses or both)")
    parser.add_argument("--activity-cost-hidden", type=NON_NEGATIVE, default=None,
                        help="activity cost of each hidden neuron under --charge local (multi-layer; default: "
                             "the output neurons' coefficient)")
    parser.add_argument("--learn-decoder", action="store_true",
                        help="learn the decoder A from the data (random start; activity cost fixed at Q = I)")
    parser.add_argument("--learn-precision", action="store_true",
                        help="learn the decoding precision P (full Gaussian likelihood)")
    parser.add_argument("--precision-shape", choices=PRECISION_SHAPES, default="isotropic",
                        help="one learned precision for all inputs, or one per input (with --learn-precision)")
    parser.add_argument("--steps", type=COUNT, default=None,
                        help="training steps (default 3000; 6000 with --charge local or neurons; 15000 for "
                             "natural-images with --learn-decoder)")
    parser.add_argument("--samples", type=number(int, minimum=2), default=500,
                        help="response samples per test stimulus")
    parser.add_argument("--test-stimuli", type=COUNT, default=None, help="held-out stimuli (per contrast for gsm)")


def _add_natural_images_parser(experiments) -> None:
    images = experiments.add_parser("natural-images", help="circuit trained on whitened image patches under a "
                                                           "model learned from them (sparse coding or a GSM)")
    _add_circuit_options(images, latents=32, inputs=False)
    images.add_argument("--patches", required=True, help="netCDF file written by 'sampling-circuits patches'")
    images.add_argument("--model", choices=("sparse", "gsm"), default="sparse",
                        help="Laplace sparse coding (absolute activity cost) or a GSM with ICA filters")
    images.add_argument("--components", type=COUNT, default=None,
                        help="leading whitened components used, D (default: all in the file; gsm: equal to "
                             "--latents)")
    images.add_argument("--noise-std", type=POSITIVE, default=0.3,
                        help="observation noise sd, whitened units (the GSM's C is fitted given it)")
    images.add_argument("--fit-noise", action="store_true",
                        help="gsm: fit the noise sd by ML as well (near 0 on complete ICA filters)")
    images.add_argument("--sparse-prior", choices=("laplace", "student-t"), default="laplace",
                        help="prior of the sparse model (student-t needs --learn-decoder)")
    images.add_argument("--prior-dof", type=number(float, above=2), default=3.0,
                        help="degrees of freedom of --sparse-prior student-t (> 2)")
    images.add_argument("--train-patches", type=COUNT, default=20_000, help="patches trained on (the first ones)")
    images.add_argument("--reference-draws", type=number(int, minimum=0), default=1000,
                        help="NUTS draws per chain (4 chains) of the sparse model's reference posterior; 0 skips it")


def _add_synapses_parser(experiments) -> None:
    from circuits.synapses import NOISE_KINDS, SAMPLING
    from simulations.synapse_experiments import SYNAPSE_COSTS, TASKS

    parser = experiments.add_parser("synapses", help="network of stochastic synapses, each paying its own "
                                                     "reliability cost (Malkin et al. 2024)")
    _add_common_options(parser)
    parser.add_argument("--task", choices=TASKS, default="regression",
                        help="regression: a linear model with a quadratic loss, whose diagonal Hessian is exact; "
                             "digits: scikit-learn's 8x8 digits, 64-100-100-10; mnist: 784-100-100-10 from --data-dir")
    parser.add_argument("--cost", choices=SYNAPSE_COSTS, default="power",
                        help="per-synapse cost: c sigma^-rho (power) or -c log sigma (log)")
    parser.add_argument("--cost-strength", type=POSITIVE, default=1e-3, help="c (> 0)")
    parser.add_argument("--cost-exponent", type=POSITIVE, default=None,
                        help="rho (> 0) of the power cost: 1/2 calcium efflux, 2/3 vesicle membrane, 4/3 actin, "
                             "2 trafficking")
    parser.add_argument("--noise", choices=NOISE_KINDS, default="per-synapse",
                        help="an sd per synapse, or one shared by the network (the published control)")
    parser.add_argument("--sample-per", choices=SAMPLING, default="example",
                        help="draw the weights afresh per example, or once per minibatch (the published protocol)")
    parser.add_argument("--inputs", type=number(int, minimum=2), default=40, help="regression inputs (synapses)")
    parser.add_argument("--steps", type=COUNT, default=None,
                        help="training steps (default 10000 for regression, 8000 for the classifiers)")
    parser.add_argument("--data-dir", default=None,
                        help="folder with the four MNIST IDX files (train-images-idx3-ubyte ..., plain or .gz)")
    parser.add_argument("--max-weight-std", type=POSITIVE, default=None,
                        help="upper bound on every synapse's sd (default: none for regression, 1 for the classifiers)")


def _add_fast_sampling_parser(experiments) -> None:
    from circuits.learning import WINDOW_STARTS
    from simulations.tasks import MAX_CONDITION

    parser = experiments.add_parser("fast-sampling", help="recurrent circuit trained to sample fast: responses scored "
                                                          "in a finite window after onset (Hennequin et al. 2014)")
    _add_common_options(parser)
    parser.add_argument("--latents", type=number(int, minimum=2), default=64, help="K (>= 2)")
    parser.add_argument("--condition", type=number(float, above=1, maximum=MAX_CONDITION), default=100.0,
                        help=f"condition number of the posterior, in (1, {MAX_CONDITION:g}]")
    parser.add_argument("--window", type=POSITIVE, default=10.0,
                        help="T, the scored window after stimulus onset, in units of tau (> 0; 10 tau = 200 ms)")
    parser.add_argument("--start", choices=WINDOW_STARTS, default="spontaneous",
                        help="spontaneous: trials start in spontaneous activity and the first T after onset is "
                             "scored (the fast-sampling objective); stationary: stationary responses are scored "
                             "(the control, blind to speed)")
    parser.add_argument("--steps", type=COUNT, default=None, help="training steps (default 3000)")
    parser.add_argument("--task-seed", type=SEED, default=0, help="seed of the task's random basis")
    parser.add_argument("--inhibitory", type=number(int, minimum=0), default=0,
                        help="0: one neuron per latent; N >= 1: a linear E/I circuit under Dale's law with N "
                             "inhibitory cells, its K excitatory cells read out")


def _add_gsm_gain_parser(experiments) -> None:
    parser = experiments.add_parser("gsm-gain", help="circuit with a sampled gain unit (responses a mixture of "
                                                     "Gaussians) vs the exact GSM posterior and the Gaussian circuit")
    _add_common_options(parser)
    parser.add_argument("--latents", type=COUNT, default=4, help="K, latents = representation neurons")
    parser.add_argument("--inputs", type=COUNT, default=8, help="D, input dimensions")
    parser.add_argument("--noise-std", type=POSITIVE, default=0.5, help="observation noise sd of the task")
    parser.add_argument("--encoder-width", type=COUNT, default=16,
                        help="hidden units of the circuit's networks (and of the Gaussian circuit's MLP encoder)")
    parser.add_argument("--steps", type=COUNT, default=None,
                        help="training steps of both circuits (default 12000)")
    parser.add_argument("--samples", type=number(int, minimum=2), default=2000,
                        help="trials per test stimulus (also the Monte Carlo draws of the KL)")
    parser.add_argument("--test-stimuli", type=COUNT, default=None, help="held-out stimuli per contrast (default 8)")
    parser.add_argument("--no-comparison", action="store_true",
                        help="skip training the Gaussian circuit and finding the best Gaussian")


def _add_trained_spiking_parser(experiments) -> None:
    from simulations.trained_spiking import (
        SPIKING_ARCHITECTURES,
        SPIKING_NEURON_MODELS,
        SPIKING_NOISE_SITES,
        SPIKING_TASKS,
    )

    parser = experiments.add_parser("trained-spiking", help="spiking circuit (escape-noise or stochastic-release LIF, "
                                                            "JAX) trained under local costs; readout vs the exact "
                                                            "posterior")
    _add_common_options(parser)
    parser.add_argument("--task", choices=SPIKING_TASKS, default="linear-gaussian")
    parser.add_argument("--neuron", choices=tuple(SPIKING_NEURON_MODELS), default="escape",
                        help="escape: leaky integrate-and-fire with a soft (escape-noise) threshold; lif: hard "
                             "threshold, synapses that release with a learned probability")
    parser.add_argument("--noise-site", choices=SPIKING_NOISE_SITES, default=None,
                        help="neurons (escape): each neuron's escape noise; synapses (lif): each synapse's release; "
                             "each paid for by its own reliability cost (default: the neuron model's)")
    parser.add_argument("--architecture", choices=SPIKING_ARCHITECTURES, default="single-layer")
    parser.add_argument("--latents", type=COUNT, default=4, help="K, latents read out")
    parser.add_argument("--inputs", type=COUNT, default=8, help="D, input dimensions")
    parser.add_argument("--neurons", type=COUNT, default=16, help="N, spiking neurons")
    parser.add_argument("--steps", type=COUNT, default=None, help="training steps (default 2000)")
    parser.add_argument("--cost", choices=COST_FAMILIES, default="power",
                        help="reliability-cost family on each noise source's scale: escape width, or a synapse's "
                             "coefficient of variation (log is unbounded below for sources the readout ignores)")
    parser.add_argument("--cost-strength", type=POSITIVE, default=1.0, help="lambda (> 0)")
    parser.add_argument("--cost-exponent", type=POSITIVE, default=2.0,
                        help="rho of the power-law cost (default 2: channel noise, variance ~ 1 / channels)")
    parser.add_argument("--spike-cost", type=NON_NEGATIVE, default=0.0, help="nats per spike (>= 0)")
    parser.add_argument("--drive-cost", type=NON_NEGATIVE, default=0.1,
                        help="nats per squared threshold unit of synaptic drive, per neuron (>= 0)")
    parser.add_argument("--window", type=POSITIVE, default=0.1,
                        help="counting window of the readout, seconds (> 0, at least dt = 1 ms)")
    parser.add_argument("--burn-in", type=NON_NEGATIVE, default=0.05,
                        help="time from onset (rest) to the window, seconds (a multiple of dt)")
    parser.add_argument("--test-trials", type=number(int, minimum=2), default=400,
                        help="trials per test stimulus (one readout sample each)")
    parser.add_argument("--no-rate-comparison", action="store_true",
                        help="skip training the rate single-layer circuit on the same task")


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
    _add_common_options(parser)
    parser.add_argument("--units", type=COUNT, default=5, help="K, number of binary units / neurons")
    parser.add_argument("--duration", type=POSITIVE, default=100.0, help="simulated seconds per trial")
    parser.add_argument("--neuron", choices=NEURON_MODELS, default="abstract", help="neuron model")
    parser.add_argument("--trials", type=COUNT, default=1, help="independent chains simulated side by side")
    parser.add_argument("--clamp", type=_clamp, default=None,
                        help="observed units for the inference run, e.g. 0=1,1=0 (default), or 'none'")
    parser.add_argument("--tau", type=POSITIVE, default=0.02, help="refractory period = PSP duration, seconds")
    parser.add_argument("--weight-scale", type=NON_NEGATIVE, default=0.5, help="sd of the random couplings W")
    parser.add_argument("--bias-scale", type=NON_NEGATIVE, default=0.5, help="sd of the random biases b")
    parser.add_argument("--target", choices=TARGETS, default="numpy", help="Brian2 code-generation target")
    parser.add_argument("--plot", default=None, help="also write the log-log KL-vs-time plot here (PNG, PDF)")


def _add_spiking_circuit_parser(experiments) -> None:
    from circuits.brian_tools import TARGETS

    parser = experiments.add_parser("spiking-circuit", help="spiking version (Poisson neurons, stochastic synapses) "
                                                            "of a trained single-layer linear-gaussian circuit")
    parser.add_argument("--from", dest="rate_results", required=True,
                        help="results file of 'run linear-gaussian --architecture single-layer'")
    parser.add_argument("--seed", type=SEED, required=True, help="Brian2 seed")
    parser.add_argument("--out", required=True, help="output netCDF file")
    parser.add_argument("--trials", type=COUNT, default=500, help="presentations of each test stimulus")
    parser.add_argument("--window", type=POSITIVE, default=1.0, help="counting window, seconds")
    parser.add_argument("--neuron", choices=("poisson", "lif"), default="poisson", help="ON / OFF neuron model")
    parser.add_argument("--target", choices=TARGETS, default="numpy", help="Brian2 code-generation target")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--quick", action="store_true", help=_QUICK_HELP)


class ArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser that shows defaults in --help and reports a bad argument in one line."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.ArgumentDefaultsHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(2, f"error: {message} (see '{self.prog} --help')\n")


def add_run_parsers(run: argparse.ArgumentParser) -> dict:
    """Add one sub-parser per experiment under ``run``; returns name -> parser."""
    experiments = run.add_subparsers(dest="experiment", required=True)
    lg = experiments.add_parser("linear-gaussian", help="circuit vs the exact linear-Gaussian posterior")
    _add_circuit_options(lg)
    lg.add_argument("--noise-std", type=POSITIVE, default=1.0, help="observation noise sd of the task")
    lg.add_argument("--prior", choices=("identity", "correlated"), default="identity",
                    help="prior covariance of the latents: identity, or a random correlation matrix")
    lg.add_argument("--prior-correlation", type=number(float, minimum=0, below=1), default=None,
                    help="correlation scale in [0, 1) of --prior correlated (default 0.5)")
    gsm = experiments.add_parser("gsm", help="circuit vs the exact Gaussian-scale-mixture posterior")
    _add_circuit_options(gsm)
    gsm.add_argument("--noise-std", type=POSITIVE, default=0.5, help="observation noise sd of the task")
    gsm.add_argument("--contrast", type=POSITIVE, default=None,
                     help="test at this one contrast only (default: 0.25, 0.5, 1, 2 and 4)")
    gsm.add_argument("--encoder", choices=("linear", "mlp"), default="linear",
                     help="mean and noise gate of the single-layer circuit: linear in x (the gate in log(1 + x^2)), "
                          "or each a one-hidden-layer tanh network of x")
    gsm.add_argument("--encoder-width", type=COUNT, default=16, help="hidden units of each MLP (--encoder mlp)")
    gsm.add_argument("--gaussian-floors", action="store_true",
                     help="also find the lowest KL to the exact posterior that any Gaussian and any factorised "
                          "Gaussian reach, per stimulus (about 10 s per 40 stimuli)")
    _add_boltzmann_parser(experiments)
    _add_spiking_circuit_parser(experiments)
    _add_natural_images_parser(experiments)
    _add_synapses_parser(experiments)
    _add_fast_sampling_parser(experiments)
    _add_trained_spiking_parser(experiments)
    _add_gsm_gain_parser(experiments)
    implicit = experiments.add_parser("implicit-em", help="gradient learning as EM on a Gaussian mixture")
    _add_common_options(implicit)
    implicit.add_argument("--plot", default=None, help="also write the log-likelihood plot here")
    agop = experiments.add_parser("agop", help="the Neural Feature Ansatz (AGOP) on networks, the RFM and a circuit")
    _add_common_options(agop)
    agop.add_argument("--from", dest="rate_results", default=None,
                      help="optional results file of a feed-forward run gsm / run linear-gaussian circuit")
    agop.add_argument("--plot", default=None, help="also write the correlation-vs-exponent plot here")
    ssn = experiments.add_parser("ssn", help="stochastic E/I circuit (SSN) trained to sample the GSM posterior")
    _add_common_options(ssn)
    ssn.add_argument("--objective", choices=("moments", "mean"), default="moments",
                     help="match the posterior's mean, variance and covariance, or its mean only (control)")
    ssn.add_argument("--steps", type=COUNT, default=1200, help="training steps")
    ring = experiments.add_parser("ring-ssn", help="E/I circuit of 50 + 50 cells on an orientation ring trained to "
                                                   "sample a ring GSM's posterior (Echeveste et al. 2020)")
    _add_common_options(ring)
    ring.add_argument("--objective", choices=("moments", "mean"), default="moments",
                      help="match the posterior's mean, variance and covariance, or its mean only (control)")
    ring.add_argument("--no-noise", action="store_true", help="no input noise (the no-noise control)")
    ring.add_argument("--ring-size", type=number(int, minimum=2), default=50, help="cells per population (>= 2)")
    ring.add_argument("--contrasts", type=NON_NEGATIVE, nargs="+", default=None,
                      help="training and test contrasts, >= 0 (default 0 0.25 0.5 1 2)")
    ring.add_argument("--steps", type=COUNT, default=None, help="training steps (default 3000)")
    ring.add_argument("--input-stage", choices=INPUT_STAGES, default="filters",
                      help="learn every input filter, or a circulant mixture of the GSM's filters tied to the ring")
    ring.add_argument("--divisive-normalisation", action="store_true",
                      help="divide the tuned input by 1 + (filter energy) / e0, e0 learned")
    ring.add_argument("--private-noise", action="store_true",
                      help="add independent input noise per cell to the ring-correlated noise")
    return experiments.choices


def build_run_parser() -> argparse.ArgumentParser:
    """A parser of ``run <experiment> ...`` argument lists (what the sweep runs)."""
    parser = ArgumentParser(prog="sampling-circuits")
    commands = parser.add_subparsers(dest="command", required=True)
    parser.run_parsers = add_run_parsers(commands.add_parser("run"))
    return parser


def _experiment_kwargs(args) -> dict:
    kwargs = dict(seed=args.seed, n_latent=args.latents, noise_std=args.noise_std, progress=not args.quiet,
                  architecture=args.architecture, n_hidden=args.hidden,
                  cost=args.cost, cost_strength=args.cost_strength, cost_exponent=args.cost_exponent,
                  cost_scale=args.cost_scale, charge=args.charge, steps=args.steps, samples=args.samples,
                  activity_cost_hidden=args.activity_cost_hidden, learn_decoder=args.learn_decoder,
                  learn_precision=args.learn_precision, precision_shape=args.precision_shape,
                  noise_site=args.noise_site, synapse_draws=args.synapse_draws)
    if getattr(args, "inputs", None) is not None:
        kwargs["n_input"] = args.inputs
    if getattr(args, "prior", None) is not None:
        kwargs["prior"] = args.prior
        kwargs["prior_correlation"] = args.prior_correlation
    if args.activation is not None:
        kwargs["activation"] = args.activation
    if args.test_stimuli is not None:
        kwargs["n_test"] = args.test_stimuli
    if getattr(args, "contrast", None) is not None:
        kwargs["contrast_levels"] = (args.contrast,)
    if getattr(args, "encoder", None) is not None:
        kwargs.update(encoder=args.encoder, encoder_width=args.encoder_width, gaussian_floors=args.gaussian_floors)
    return kwargs


def _boltzmann_kwargs(args) -> dict:
    if args.clamp:
        # Checked here, before the free run: the clamped run comes after it.
        outside = sorted(unit for unit in args.clamp if not 0 <= unit < args.units)
        if outside:
            raise ValueError(f"--clamp: unit {outside[0]} is not among the {args.units} units (0..{args.units - 1})")
        if any(value not in (0, 1) for value in args.clamp.values()):
            raise ValueError(f"--clamp: observed values must be 0 or 1, got {args.clamp}")
        if len(args.clamp) >= args.units:
            raise ValueError("--clamp must leave at least one unit free")
    return dict(seed=args.seed, n_units=args.units, duration=args.duration, neuron=args.neuron,
                n_trials=args.trials, clamp=args.clamp, tau=args.tau, weight_scale=args.weight_scale,
                bias_scale=args.bias_scale, target=args.target, progress=not args.quiet)


def experiment_call(args):
    """(experiment function, keyword arguments, label) for parsed ``run`` arguments; the sweep
    runs its points through this too, so a sweep key means exactly what the option means."""
    if args.experiment == "boltzmann":
        kwargs, label = _boltzmann_kwargs(args), f"{args.neuron} neuron"
    elif args.experiment == "implicit-em":
        kwargs, label = dict(seed=args.seed, progress=not args.quiet), "mixture"
    elif args.experiment == "agop":
        kwargs, label = dict(seed=args.seed, rate_results=args.rate_results, progress=not args.quiet), "networks"
    elif args.experiment == "ssn":
        kwargs = dict(seed=args.seed, objective=args.objective, steps=args.steps, progress=not args.quiet)
        label = f"objective {args.objective}"
    elif args.experiment == "ring-ssn":
        kwargs = dict(seed=args.seed, objective=args.objective, input_noise=not args.no_noise,
                      ring_size=args.ring_size, input_stage=args.input_stage,
                      divisive_normalisation=args.divisive_normalisation, private_noise=args.private_noise,
                      progress=not args.quiet)
        if args.contrasts is not None:
            kwargs["contrast_levels"] = tuple(args.contrasts)
        if args.steps is not None:
            kwargs["steps"] = args.steps
        label = f"objective {args.objective}" + (", no noise" if args.no_noise else "")
    elif args.experiment == "spiking-circuit":
        kwargs = dict(rate_results=args.rate_results, seed=args.seed, n_trials=args.trials, window=args.window,
                      neuron=args.neuron, target=args.target, progress=not args.quiet)
        label = f"{args.neuron} neurons from {args.rate_results}"
    elif args.experiment == "synapses":
        kwargs = dict(seed=args.seed, task=args.task, cost=args.cost, cost_strength=args.cost_strength,
                      cost_exponent=args.cost_exponent, noise=args.noise, per=args.sample_per, n_input=args.inputs,
                      steps=args.steps, data_dir=args.data_dir, max_weight_std=args.max_weight_std,
                      progress=not args.quiet)
        label = f"{args.task} / {args.noise} noise / {args.cost} cost"
    elif args.experiment == "fast-sampling":
        kwargs = dict(seed=args.seed, n_latent=args.latents, condition=args.condition, window=args.window,
                      start=args.start, task_seed=args.task_seed, inhibitory=args.inhibitory, progress=not args.quiet)
        if args.steps is not None:
            kwargs["steps"] = args.steps
        label = f"K={args.latents}, condition {args.condition:g}, start {args.start}" + (
            f", {args.inhibitory} inhibitory cells" if args.inhibitory else "")
    elif args.experiment == "trained-spiking":
        kwargs = dict(seed=args.seed, task=args.task, neuron=args.neuron, noise_site=args.noise_site,
                      architecture=args.architecture, n_latent=args.latents, n_input=args.inputs,
                      n_neurons=args.neurons, cost=args.cost, cost_strength=args.cost_strength,
                      cost_exponent=args.cost_exponent, spike_cost=args.spike_cost, drive_cost=args.drive_cost,
                      window=args.window, burn_in=args.burn_in, test_trials=args.test_trials,
                      compare_rate=not args.no_rate_comparison, progress=not args.quiet)
        if args.steps is not None:
            kwargs["steps"] = args.steps
        label = f"{args.architecture} {args.neuron} / {args.task} / {args.cost} cost"
    elif args.experiment == "gsm-gain":
        kwargs = dict(seed=args.seed, n_latent=args.latents, n_input=args.inputs, noise_std=args.noise_std,
                      width=args.encoder_width, samples=args.samples, compare=not args.no_comparison,
                      progress=not args.quiet)
        for name, value in (("steps", args.steps), ("n_test", args.test_stimuli)):
            if value is not None:
                kwargs[name] = value
        label = "gain circuit"
    elif args.experiment == "natural-images":
        from simulations.results import load_results

        kwargs = _experiment_kwargs(args)
        kwargs.update(patches=load_results(args.patches, ("patches",)), model=args.model,
                      n_components=args.components, n_train=args.train_patches,
                      n_reference_draws=args.reference_draws, prior=args.sparse_prior, prior_dof=args.prior_dof,
                      fit_noise=args.fit_noise)
        label = (f"{args.model} / {args.architecture} / charge {args.charge} / "
                 f"{'learned' if args.learn_decoder else 'fitted'} decoder")
    else:
        kwargs, label = _experiment_kwargs(args), args.architecture
    if getattr(args, "quick", False):
        explicit_steps = kwargs.get("steps") if args.experiment in ("linear-gaussian", "gsm", "natural-images",
                                                                     "synapses", "fast-sampling",
                                                                     "trained-spiking", "gsm-gain") else None
        kwargs.update(QUICK[args.experiment])
        if explicit_steps is not None:
            kwargs["steps"] = explicit_steps
        label += " (quick)"
    return experiments()[args.experiment], kwargs, label


