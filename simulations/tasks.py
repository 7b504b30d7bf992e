"""What the rate-circuit experiments share: circuit and training options, the tasks' generative
models, and rebuilding a trained circuit from its results file.

Every experiment module imports from here; one imports another only to extend it (gsm_gain,
trained_spiking, ring_ssn), so the imports flow one way (cli -> sweep -> registry ->
experiment modules -> tasks -> circuits / analysis) with no cycles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from analysis.generative import GaussianScaleMixture, LinearGaussian
from analysis.gsm_fit import contrast_nodes
from analysis.linear_models import PRIORS, correlated_prior_cov
from circuits._validation import count
from circuits.feedforward import ENCODERS, NOISE_SITES, WEIGHT_DRAWS, FeedforwardCircuit
from circuits.learning import CHARGES, PRECISION_SHAPES, TrainingConfig
from circuits.recurrent import RecurrentCircuit
from circuits.reliability import make_cost
from simulations.results import config_of, parameters_of

__all__ = ["ARCHITECTURES", "DEFAULT_STEPS", "CircuitOptions", "circuit_options_of", "trained_circuit",
           "default_loading_matrix", "task_prior_cov", "linear_gaussian_model", "gsm_model", "ring_gsm_model",
           "contrast_quadrature", "check_options", "refuse_learned_model", "DEFAULT_PRIOR_CORRELATION"]

ARCHITECTURES = ("single-layer", "multi-layer", "recurrent")
#: Training steps by charge when none are given (see ``CircuitOptions``).
DEFAULT_STEPS = {"responses": 3000, "neurons": 6000, "local": 6000}


@dataclass(frozen=True)
class CircuitOptions:
    """Circuit, cost and training options shared by the rate-circuit experiments.

    architecture : one of ARCHITECTURES. n_hidden : hidden width of the multi-layer
    circuit (default 2 K). activation : of the first feed-forward layer. cost : ``log``, ``power`` or ``biophysical``;
    cost_strength, cost_exponent, cost_scale : its parameters (``circuits.reliability``).
    charge : ``responses``, ``neurons`` or ``local`` (``circuits.learning``).
    activity_cost_hidden : activity cost of each hidden neuron under the ``local`` charge
    (default: the output neurons' coefficient). learn_decoder, learn_precision,
    precision_shape : learn the generative model's decoder and decoding precision
    (``isotropic`` or ``diagonal``). steps, batch_size, learning_rate : training; steps
    defaults to ``DEFAULT_STEPS[charge]`` (the per-neuron charges have slow directions, e.g.
    unused hidden neurons drifting to zero readout: at 3000 steps a multi-layer circuit under
    the local charge was measured 0.026 nats per input above the closed-form optimum, at 6000
    steps 0.0006; a recurrent circuit under the neurons charge 0.023, at 6000 steps 0.006).
    samples : response samples per test stimulus.
    noise_site : ``neurons``, ``synapses`` or ``both`` (``circuits.feedforward``,
    ``circuits.recurrent``; the last two with the linear activation; a multi-layer circuit's
    noisy readout synapses make its responses non-Gaussian, so it needs ``charge`` neurons or
    local).
    tau, dt : recurrent time constant and step, seconds; burn_in : seconds simulated from
    rest before a recurrent response is read.
    encoder, encoder_width : ``linear`` or ``mlp`` mean and noise gate of a feed-forward
    circuit with neuron noise, and the MLPs' hidden width (``circuits.feedforward``).
    synapse_draws : in training, noisy synapses drawn per trial or once per minibatch
    (``circuits.learning.TrainingConfig``; synaptic noise only). Test responses are always
    drawn per trial.

    Errors name the command-line option as well as the field (``--activity-cost-hidden``).
    """

    architecture: str = "single-layer"
    n_hidden: int | None = None
    activation: str = "linear"
    cost: str = "log"
    cost_strength: float = 1.0
    cost_exponent: float | None = None
    cost_scale: float = 1.0
    charge: str = "responses"
    activity_cost_hidden: float | None = None
    learn_decoder: bool = False
    learn_precision: bool = False
    precision_shape: str = "isotropic"
    steps: int | None = None
    batch_size: int = 64
    learning_rate: float = 0.02
    samples: int = 500
    tau: float = 0.02
    dt: float = 0.001
    burn_in: float = 1.0
    noise_site: str = "neurons"
    encoder: str = "linear"
    encoder_width: int = 16
    synapse_draws: str = "trial"

    def __post_init__(self):
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}; got {self.architecture!r}")
        if self.samples < 2:
            raise ValueError(f"samples must be >= 2, got {self.samples}")
        if not self.burn_in > 0:
            raise ValueError(f"burn_in must be > 0 seconds, got {self.burn_in}")
        make_cost(self.cost, self.cost_strength, self.cost_exponent, self.cost_scale)  # validates
        if self.cost_exponent is not None and self.cost != "power":
            raise ValueError(f"cost_exponent (--cost-exponent) applies to --cost power only, not to --cost {self.cost}")
        if self.n_hidden is not None and self.architecture != "multi-layer":
            raise ValueError(f"n_hidden (--hidden) applies to the multi-layer architecture only, not to "
                             f"{self.architecture}")
        if self.charge not in CHARGES:
            raise ValueError(f"charge (--charge) must be one of {', '.join(CHARGES)}; got {self.charge!r}")
        if self.steps is None:
            object.__setattr__(self, "steps", DEFAULT_STEPS[self.charge])
        if self.activity_cost_hidden is not None:
            hidden_cost = self.activity_cost_hidden
            if isinstance(hidden_cost, bool) or not isinstance(hidden_cost, (int, float)) \
                    or not np.isfinite(hidden_cost) or hidden_cost < 0:
                raise ValueError("activity_cost_hidden (--activity-cost-hidden) must be a finite number >= 0, "
                                 f"got {hidden_cost!r}")
            if self.charge != "local":
                raise ValueError("activity_cost_hidden (--activity-cost-hidden) applies to --charge local only, "
                                 f"not to --charge {self.charge}")
            if self.architecture != "multi-layer":
                raise ValueError("activity_cost_hidden (--activity-cost-hidden) applies to the multi-layer "
                                 f"architecture only (the {self.architecture} circuit has no hidden neurons)")
        if self.precision_shape not in PRECISION_SHAPES:
            raise ValueError(f"precision_shape (--precision-shape) must be one of {', '.join(PRECISION_SHAPES)}; "
                             f"got {self.precision_shape!r}")
        if self.precision_shape != "isotropic" and not self.learn_precision:
            raise ValueError("precision_shape (--precision-shape) applies to a learned precision only: "
                             "add --learn-precision")
        if self.noise_site not in NOISE_SITES:
            raise ValueError(f"noise_site (--noise-site) must be one of {', '.join(NOISE_SITES)}; "
                             f"got {self.noise_site!r}")
        if self.noise_site != "neurons" and self.activation != "linear":
            raise ValueError(f"noise_site (--noise-site) {self.noise_site!r} is built for the linear activation "
                             f"only, not --activation {self.activation!r}")
        if self.noise_site != "neurons" and self.architecture == "multi-layer" and self.charge == "responses":
            raise ValueError(f"noise_site (--noise-site) {self.noise_site!r} on the multi-layer circuit needs "
                             "--charge neurons or local: its noisy readout synapses make the responses "
                             "non-Gaussian, so the response entropy charge has no closed form")
        if self.synapse_draws not in WEIGHT_DRAWS:
            raise ValueError(f"synapse_draws (--synapse-draws) must be one of {', '.join(WEIGHT_DRAWS)}; "
                             f"got {self.synapse_draws!r}")
        if self.synapse_draws != "trial" and self.noise_site == "neurons":
            raise ValueError(f"synapse_draws (--synapse-draws) {self.synapse_draws!r} applies to synaptic noise "
                             "only: add --noise-site synapses or both")
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder (--encoder) must be one of {', '.join(ENCODERS)}; got {self.encoder!r}")
        count("encoder_width (--encoder-width)", self.encoder_width, 1)
        if self.encoder == "mlp" and (self.architecture == "recurrent" or self.noise_site != "neurons"):
            raise ValueError(f"encoder (--encoder) 'mlp' is built for feed-forward circuits with neuron noise "
                             f"only, not {self.architecture} with noise site {self.noise_site!r}")

    def build_circuit(self, n_input: int, n_output: int, noise_gating: bool = False):
        if self.architecture == "recurrent":
            return RecurrentCircuit(n_input, n_output, tau=self.tau, dt=self.dt, noise_site=self.noise_site)
        n_hidden = 0 if self.architecture == "single-layer" else (self.n_hidden or 2 * n_output)
        return FeedforwardCircuit(n_input, n_output, n_hidden=n_hidden, activation=self.activation,
                                  noise_gating=noise_gating, noise_site=self.noise_site, encoder=self.encoder,
                                  encoder_width=self.encoder_width)

    def training_config(self) -> TrainingConfig:
        return TrainingConfig(steps=self.steps, batch_size=self.batch_size, learning_rate=self.learning_rate,
                              synapse_draws=self.synapse_draws)

    def reliability(self):
        return make_cost(self.cost, self.cost_strength, self.cost_exponent, self.cost_scale)

    def objective_options(self) -> dict:
        """The ``Objective`` keyword arguments these options set."""
        return dict(reliability=self.reliability(), charge=self.charge, learn_decoder=self.learn_decoder,
                    learn_precision=self.learn_precision, precision_shape=self.precision_shape,
                    hidden_activity_cost=self.activity_cost_hidden)




def circuit_options_of(config: dict) -> CircuitOptions:
    """The ``CircuitOptions`` a results file's configuration records."""
    return CircuitOptions(**{name: config[name] for name in CircuitOptions.__dataclass_fields__ if name in config})


def trained_circuit(rate_results: xr.Dataset):
    """The circuit of a rate-circuit results file, rebuilt from its configuration, and its trained
    parameters: (circuit, params, config)."""
    config = config_of(rate_results)
    experiment = config.get("experiment")
    if experiment not in ("linear-gaussian", "gsm", "natural-images"):
        raise ValueError(f"expected a linear-gaussian, gsm or natural-images results file, got {experiment!r}")
    # natural-images: the inputs are the whitened components; its GSM circuits gate their noise.
    n_input = config["n_components"] if experiment == "natural-images" else config["n_input"]
    gated = experiment == "gsm" or (experiment == "natural-images" and config["model"] == "gsm")
    circuit = circuit_options_of(config).build_circuit(n_input, config["n_latent"], noise_gating=gated)
    return circuit, parameters_of(rate_results), config


def default_loading_matrix(n_obs: int, n_latent: int, rng: np.random.Generator) -> np.ndarray:
    """Random generative weights A (D, K): i.i.d. N(0, 1) entries."""
    return rng.normal(size=(n_obs, n_latent))


#: Default correlation scale of the correlated prior.
DEFAULT_PRIOR_CORRELATION = 0.5


def task_prior_cov(prior: str, n_latent: int, prior_correlation: float | None,
                   rng: np.random.Generator) -> np.ndarray:
    """The prior covariance of the linear-Gaussian task: identity, or ``correlated_prior_cov``
    (``prior_correlation`` None means ``DEFAULT_PRIOR_CORRELATION``; it is an error with the identity)."""
    if prior not in PRIORS:
        raise ValueError(f"prior (--prior) must be one of {', '.join(PRIORS)}; got {prior!r}")
    if prior == "identity":
        if prior_correlation is not None:
            raise ValueError("prior_correlation (--prior-correlation) applies to --prior correlated only")
        return np.eye(n_latent)
    if prior_correlation is None:
        prior_correlation = DEFAULT_PRIOR_CORRELATION
    if isinstance(prior_correlation, bool) or not isinstance(prior_correlation, (int, float)) \
            or not 0 <= prior_correlation < 1:
        raise ValueError(f"prior_correlation (--prior-correlation) must lie in [0, 1), got {prior_correlation!r}")
    return correlated_prior_cov(n_latent, prior_correlation, rng)


def refuse_learned_model(options: CircuitOptions) -> None:
    """ValueError (naming the flag) if the options learn the generative model: the GSM task has no
    learned-model objective."""
    for name, flag in (("learn_decoder", "--learn-decoder"), ("learn_precision", "--learn-precision")):
        if getattr(options, name):
            raise ValueError(f"{name} ({flag}) is supported by the linear-gaussian experiment only")


def check_options(experiment: str, kwargs: dict) -> None:
    """Validate a rate-circuit experiment's keyword arguments without running it (ValueError,
    naming the option). The sweep calls this for every grid point before the first one runs."""
    if experiment not in ("linear-gaussian", "gsm"):
        return
    kwargs = dict(kwargs)
    if experiment == "gsm" and kwargs.get("architecture") == "multi-layer":
        kwargs.setdefault("activation", "relu")
    options = CircuitOptions(**{name: kwargs[name] for name in CircuitOptions.__dataclass_fields__ if name in kwargs})
    count("seed", kwargs["seed"], 0)
    for name in ("n_latent", "n_input", "n_test"):
        if name in kwargs:
            count(name, kwargs[name], 1)
    if experiment == "gsm":
        refuse_learned_model(options)
    else:
        task_prior_cov(kwargs.get("prior", "identity"), kwargs.get("n_latent", 4), kwargs.get("prior_correlation"),
                       np.random.default_rng(0))


def linear_gaussian_model(rng: np.random.Generator, n_latent: int, n_input: int, noise_std: float,
                          prior: str = "identity", prior_correlation: float | None = None) -> LinearGaussian:
    """The linear-Gaussian task of the experiments: A drawn from ``rng`` (i.i.d. N(0, 1)), then
    the prior covariance (``task_prior_cov``) from the same generator."""
    A = default_loading_matrix(n_input, n_latent, rng)
    return LinearGaussian(A, noise_std, task_prior_cov(prior, n_latent, prior_correlation, rng))


#: Largest condition number of ``conditioned_linear_gaussian``: beyond it float32 simulation
#: (the circuits' precision) resolves the stiffest and the slowest directions poorly.
MAX_CONDITION = 1e6


def conditioned_linear_gaussian(n_latent: int, condition: float, seed: int = 0) -> LinearGaussian:
    """A linear-Gaussian task (D = K, noise sd 1, prior N(0, I)) whose posterior precision
    H = I + A^T A has eigenvalues geomspace(1, condition, K) in a Haar-random orthonormal basis
    (QR with the sign fix of Mezzadri 2007) drawn from ``seed``: a posterior of chosen size and
    condition number, for measuring how fast samplers mix."""
    count("n_latent", n_latent, 2)
    if isinstance(condition, bool) or not isinstance(condition, (int, float)) \
            or not 1 < condition <= MAX_CONDITION:
        raise ValueError(f"condition (the posterior's condition number) must be in (1, {MAX_CONDITION:g}], "
                         f"got {condition!r}")
    rng = np.random.default_rng(count("seed", seed, 0))
    basis, upper = np.linalg.qr(rng.normal(size=(n_latent, n_latent)))
    basis = basis * np.sign(np.diag(upper))
    likelihood_precision = np.geomspace(1.0, condition, n_latent) - 1.0
    return LinearGaussian(np.sqrt(likelihood_precision)[:, None] * basis.T, 1.0)


def gsm_model(rng: np.random.Generator, n_latent: int, n_input: int, noise_std: float,
              contrast_shape: float = 2.0, contrast_scale: float = 0.5) -> GaussianScaleMixture:
    """The GSM task of the experiments: A drawn from ``rng`` (i.i.d. N(0, 1)), prior N(0, I)."""
    return GaussianScaleMixture(default_loading_matrix(n_input, n_latent, rng), np.eye(n_latent), noise_std,
                                contrast_shape, contrast_scale)


def ring_gsm_model(ring_size: int = 50, patch_size: int = 12, noise_std: float = 0.5, prior_width: float = 0.5,
                   prior_independent: float = 0.2, contrast_shape: float = 2.0,
                   contrast_scale: float = 0.5) -> GaussianScaleMixture:
    """A GSM on an orientation ring, the setting of Echeveste et al. (2020): one latent per
    orientation theta_k = k pi / ring_size, each with a unit-norm Gabor filter (centred in a
    patch_size x patch_size patch, 0.2 cycles/pixel, envelope sd patch_size / 5 pixels, even
    phase), and a ring-structured prior
        C = (1 - prior_independent) k(theta_k - theta_l) + prior_independent I,
    k the von Mises ring kernel of width ``prior_width`` (``circuits.ring_ssn.ring_kernel``):
    similar orientations co-vary. Deterministic (no random draw)."""
    from analysis.gabor import gabor
    from circuits.ring_ssn import ring_kernel, ring_orientations

    theta = ring_orientations(ring_size)
    count("patch_size", patch_size, 3)
    if not 0.0 < prior_independent <= 1.0:
        raise ValueError(f"prior_independent must be in (0, 1], got {prior_independent!r}")
    centre = (patch_size - 1) / 2.0
    filters = np.stack([gabor((patch_size, patch_size), 1.0, centre, centre, angle, 0.2, 0.0, patch_size / 5.0,
                              patch_size / 5.0).ravel() for angle in theta], axis=1)
    filters /= np.linalg.norm(filters, axis=0, keepdims=True)
    prior_cov = ((1.0 - prior_independent) * ring_kernel(theta, prior_width, xp=np)
                 + prior_independent * np.eye(ring_size))
    return GaussianScaleMixture(filters, prior_cov, noise_std, contrast_shape, contrast_scale)


def contrast_quadrature(shape: float, scale: float, n_nodes: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Equal-weight nodes at the Gamma prior's (j + 1/2) / J quantiles (midpoint rule in
    probability; ``analysis.gsm_fit.contrast_nodes``, which the ML fit of a GSM uses too)."""
    return contrast_nodes(shape, scale, n_nodes), np.full(n_nodes, 1.0 / n_nodes)


