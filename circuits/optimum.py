"""The training objective of linear circuits in closed form, and its optimum.

For a linear circuit the responses to an input x are Gaussian, r | x ~ N(m(x), S_r), with
an affine mean m(x) = M x + b and an input-independent covariance S_r:

single layer    m = M x + b,                    S_r = diag(sigma^2)
multi-layer     m = M2 (M1 x + b1) + b2,        S_r = M2 diag(sigma_h^2) M2^T + diag(sigma^2)
recurrent       m = (I - W)^-1 (M x + b),       S_r = the stationary covariance of the simulated
                                                       Euler-Maruyama dynamics (discrete Lyapunov)

so every expectation in the objective of ``circuits.learning`` depends on the inputs only
through their mean mu = E[x] and second moment S = E[x x^T]:

    E 1/2 (x - A r)^T P (x - A r) = 1/2 tr(P E[e e^T]) + 1/2 tr(A^T P A S_r),   e = x - A m(x)
    E 1/2 r^T Q r                 = 1/2 tr(Q (E[m m^T] + S_r))

with E[(F x + c)(F x + c)^T] = F S F^T + F mu c^T + c mu^T F^T + c c^T for any affine map.
The reliability term needs no expectation (the noise sds do not depend on x). This gives
the objective a trained circuit would reach with infinitely many noise samples, and,
minimised deterministically (L-BFGS on the closed form, in double precision), the best
objective the architecture can reach under the cost: the reference that separates "what
the cost makes optimal" from "what stochastic gradient descent reached".

Supported: feed-forward circuits with the linear activation and no noise gating, the
linear recurrent circuit, a single decoding node (no contrast mixture), and every charge,
reliability cost, learned decoder and learned precision of ``Objective``. Anything else
raises ValueError.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from scipy import optimize

from circuits.feedforward import FeedforwardCircuit
from circuits.learning import Objective, check_supported, gaussian_normaliser
from circuits.recurrent import RecurrentCircuit

__all__ = ["data_moments", "response_moments", "expected_objective", "optimal_input_map", "optimal_circuit",
           "check_linear"]


def data_moments(data) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and second moment E[x x^T] (D, D) of the rows of ``data`` (N, D)."""
    data = np.asarray(data, dtype=float)
    if data.ndim != 2 or not np.all(np.isfinite(data)):
        raise ValueError(f"data must be a finite (N, D) array, got shape {data.shape}")
    return data.mean(0), data.T @ data / data.shape[0]


def check_linear(circuit, objective: Objective) -> None:
    """Raise ValueError unless the objective of ``circuit`` has the closed form of this module."""
    check_supported(circuit, objective)
    if isinstance(circuit, FeedforwardCircuit):
        if (circuit.activation != "linear" or circuit.noise_gating or circuit.has_synaptic_noise
                or circuit.encoder != "linear"):
            raise ValueError("the closed-form objective needs a linear feed-forward circuit without noise gating, "
                             f"synaptic noise or an MLP encoder, got activation {circuit.activation!r}, "
                             f"noise_gating={circuit.noise_gating}, noise_site {circuit.noise_site!r}, "
                             f"encoder {circuit.encoder!r}")
    elif isinstance(circuit, RecurrentCircuit):
        if circuit.variant != "linear" or circuit.has_synaptic_noise:
            raise ValueError("the closed-form objective needs the linear recurrent circuit without synaptic noise, "
                             f"got variant {circuit.variant!r}, noise_site {circuit.noise_site!r}")
    else:
        raise ValueError(f"no closed-form objective for {type(circuit).__name__}")
    if objective.contrast_nodes.size != 1 or objective.contrast_nodes[0] != 1.0:
        raise ValueError("the closed-form objective needs a single decoding node (no contrast mixture)")
    if objective.activity_form != "quadratic" or objective.decoder_norm is not None:
        raise ValueError("the closed-form objective needs the quadratic activity cost and a decoder of free norm, "
                         f"got activity_form {objective.activity_form!r}, decoder_norm {objective.decoder_norm}")


def _affine_second_moment(F, c, mean, second_moment):
    """E[(F x + c)(F x + c)^T] from E[x] and E[x x^T]."""
    cross = jnp.outer(F @ mean, c)
    return F @ second_moment @ F.T + cross + cross.T + jnp.outer(c, c)


def response_moments(circuit, params) -> dict:
    """The affine mean map and the noise covariance of a linear circuit.

    Returns a dict with ``weights`` M (K, D) and ``bias`` b (K,) of m(x) = M x + b,
    ``covariance`` S_r (K, K), and for a multi-layer circuit ``hidden_weights`` (H, D),
    ``hidden_bias`` (H,) and ``hidden_variance`` (H,) of the hidden layer.
    """
    if isinstance(circuit, RecurrentCircuit):
        system = jnp.eye(circuit.n_units) - circuit.recurrent_matrix(params)
        return {"weights": jnp.linalg.solve(system, params["input_weights"]),
                "bias": jnp.linalg.solve(system, params["input_bias"]),
                "covariance": circuit.stationary_covariance(params, solver="doubling")}
    own = jnp.diag(jnp.exp(2 * params["log_noise_std"]))
    if not circuit.n_hidden:
        return {"weights": params["input_weights"], "bias": params["input_bias"], "covariance": own}
    readout = params["readout_weights"]
    hidden_variance = jnp.exp(2 * params["hidden_log_noise_std"])
    return {"weights": readout @ params["input_weights"],
            "bias": readout @ params["input_bias"] + params["readout_bias"],
            "covariance": own + (readout * hidden_variance) @ readout.T,
            "hidden_weights": params["input_weights"], "hidden_bias": params["input_bias"],
            "hidden_variance": hidden_variance}


def expected_objective(circuit, params, objective: Objective, data_mean, data_second_moment) -> dict:
    """The objective's terms per input (nats when it is a negative ELBO), in closed form.

    Parameters
    ----------
    circuit, params : a linear circuit (see ``check_linear``) and its parameters (including
        ``decoder`` / ``log_decoding_precision`` when the objective learns them).
    objective : the ``Objective`` it is trained under.
    data_mean : (D,) E[x]; data_second_moment : (D, D) E[x x^T] (``data_moments``).

    Returns
    -------
    dict with ``loss``, ``decoding_error``, ``activity_cost`` and ``reliability_cost`` (JAX
    scalars), the same terms as ``circuits.learning.loss_terms`` in expectation.
    """
    mean, second = jnp.asarray(data_mean), jnp.asarray(data_second_moment)
    moments = response_moments(circuit, params)
    weights, bias, cov = moments["weights"], moments["bias"], moments["covariance"]
    decoder = objective.decoder_of(params)
    precision = objective.precision_of(params)
    n_obs = decoder.shape[0]
    error_moment = _affine_second_moment(jnp.eye(n_obs) - decoder @ weights, -decoder @ bias, mean, second)
    decoding = 0.5 * jnp.sum(precision * jnp.diag(error_moment)) \
        + 0.5 * jnp.trace((decoder.T * precision) @ decoder @ cov)
    if objective.learn_precision:
        decoding = decoding + gaussian_normaliser(precision)
    response_second = _affine_second_moment(weights, bias, mean, second) + cov
    activity = 0.5 * jnp.trace(jnp.asarray(objective.charged_activity_cost) @ response_second)
    if objective.charge == "local" and "hidden_weights" in moments:
        hidden_second = _affine_second_moment(moments["hidden_weights"], moments["hidden_bias"], mean, second)
        activity = activity + 0.5 * objective.hidden_activity_cost * (
            jnp.trace(hidden_second) + jnp.sum(moments["hidden_variance"]))
    cost = objective.reliability
    dummy = jnp.zeros((1, circuit.n_input))
    if objective.charge in ("neurons", "local"):
        reliability = sum(cost(sd) for sd in circuit.noise_sources(params, dummy))
    elif not circuit.has_correlated_noise:
        reliability = cost(circuit.output_noise_std(params, dummy))
    else:
        reliability = cost.of_covariance(cov[: circuit.n_output, : circuit.n_output])
    return {"loss": decoding + activity + reliability, "decoding_error": decoding,
            "activity_cost": activity, "reliability_cost": reliability}


#: What the optimiser is told where the objective is not finite (nats per input).
UNSTABLE_OBJECTIVE = 1e10

#: The parameters of the input map, which ``optimal_input_map`` sets in closed form.
INPUT_MAP = ("input_weights", "input_bias")


def optimal_input_map(circuit, objective: Objective, params) -> dict:
    """The input weights and bias that minimise the objective given every other parameter.

    The decoding error and the activity cost are, for each input x, a convex quadratic in
    the response mean m(x), and nothing else depends on the input map, so the minimiser is
    pointwise and does not depend on the data. With B = A^T P A + Q_c (Q_c the charged
    activity cost):

    single layer    m(x) = B^-1 A^T P x, so M = B^-1 A^T P, b = 0
    recurrent       the same fixed point, so M = (I - W) B^-1 A^T P, b = 0
    multi-layer     hidden mean h(x) = (R^T B R + q_h I)^-1 R^T (A^T P x - B b2) for the
                    readout R, readout bias b2 and hidden activity cost q_h; where the hidden
                    rates are not charged (q_h = 0) and H >= K, the minimum-norm solution
                    h(x) = R^+ (B^-1 A^T P x - b2).

    Profiling the input map out this way (variable projection) leaves the optimiser the noise,
    readout and recurrent parameters only: at K = 16, D = 64 a multi-layer circuit has 576
    of them instead of 2624.
    """
    decoder = objective.decoder_of(params)
    precision = objective.precision_of(params)
    weighted_decoder = (decoder.T * precision)  # A^T P, (K, D)
    gram = weighted_decoder @ decoder + jnp.asarray(objective.charged_activity_cost)  # B
    if isinstance(circuit, RecurrentCircuit):
        system = jnp.eye(circuit.n_units) - circuit.recurrent_matrix(params)
        weights = system @ jnp.linalg.solve(gram, weighted_decoder)
        return {"input_weights": weights, "input_bias": jnp.zeros(circuit.n_units)}
    if not circuit.n_hidden:
        return {"input_weights": jnp.linalg.solve(gram, weighted_decoder), "input_bias": jnp.zeros(circuit.n_output)}
    readout, readout_bias = params["readout_weights"], params["readout_bias"]
    hidden_charged = objective.has_hidden_activity_cost and objective.charge == "local"  # static: branches below
    if hidden_charged or circuit.n_hidden < circuit.n_output:
        system = readout.T @ gram @ readout
        if hidden_charged:
            system = system + objective.hidden_activity_cost * jnp.eye(circuit.n_hidden)
        weights = jnp.linalg.solve(system, readout.T @ weighted_decoder)
        bias = -jnp.linalg.solve(system, readout.T @ gram @ readout_bias)
    else:
        right_inverse = readout.T @ jnp.linalg.inv(readout @ readout.T)  # R^+ for a full-row-rank R
        weights = right_inverse @ jnp.linalg.solve(gram, weighted_decoder)
        bias = -right_inverse @ readout_bias
    return {"input_weights": weights, "input_bias": bias}


def _with_objective_parameters(circuit, objective, params):
    params = dict(params)
    for name, value in objective.initial_parameters().items():
        params.setdefault(name, value)
    return params


def _unravel(circuit, layout, objective, flat) -> dict:
    """Parameters from the optimiser's flat vector (``layout``: name and shape of each, the
    input map excluded) and the input map in closed form."""
    params, offset = {}, 0
    for name, shape in layout:
        size = int(np.prod(shape))
        params[name] = flat[offset:offset + size].reshape(shape)
        offset += size
    return params | optimal_input_map(circuit, objective, params)


def _terms(circuit, layout, problem, flat) -> dict:
    objective, mean, second = problem
    return expected_objective(circuit, _unravel(circuit, layout, objective, flat), objective, mean, second)


# Compiled once per circuit and parameter layout (static), not per call: the objective and the
# data moments are arguments, so every task of the same shapes reuses the program.
@partial(jax.jit, static_argnums=(0, 1))
def _loss_and_gradient(circuit, layout, problem, flat):
    return jax.value_and_grad(lambda f: _terms(circuit, layout, problem, f)["loss"])(flat)


@partial(jax.jit, static_argnums=(0, 1))
def _solution(circuit, layout, problem, flat):
    return _unravel(circuit, layout, problem[0], flat), _terms(circuit, layout, problem, flat)


def optimal_circuit(circuit, objective: Objective, data_mean, data_second_moment, key, restarts: int = 3,
                    initial_params: dict | None = None, tolerance: float = 1e-7, max_iterations: int = 20000):
    """Minimise the closed-form objective over the circuit's (and objective's) parameters.

    The input map is set in closed form from the other parameters (``optimal_input_map``);
    those are minimised by L-BFGS in double precision (until every gradient component is
    below ``tolerance`` or the objective stops changing at rounding level), from ``restarts``
    random initialisations (``circuit.init``) and, if given, from ``initial_params`` (e.g. a
    trained circuit's); the best is returned.
    Recurrent circuits whose Euler dynamics are unstable get an infinite objective (the
    doubling series of their stationary covariance diverges), so the line search stays
    inside the stable region.

    Parameters
    ----------
    key : JAX PRNG key for the random initialisations.

    Returns
    -------
    params : dict of NumPy float64 arrays, the optimal parameters.
    terms : dict of floats, the objective's terms at the optimum (nats per input).
    """
    check_linear(circuit, objective)
    if restarts < 1 and initial_params is None:
        raise ValueError("restarts must be >= 1 when no initial_params are given")
    # Initial values in NumPy: eager JAX operations in double precision would each compile once.
    starts = [circuit.init(k) for k in jax.random.split(key, max(restarts, 1))][:restarts]
    if initial_params is not None:
        starts.append(initial_params)
    starts = [{name: np.asarray(value, dtype=float)
               for name, value in _with_objective_parameters(circuit, objective, start).items()} for start in starts]
    # The input map is set in closed form from the rest (``optimal_input_map``): the optimiser
    # sees only the remaining parameters, and every value it sees is already minimal over it.
    layout = tuple((name, starts[0][name].shape) for name in sorted(starts[0]) if name not in INPUT_MAP)
    names = [name for name, _ in layout]

    with jax.enable_x64(True):
        mean = jnp.asarray(data_mean, dtype=jnp.float64)
        second = jnp.asarray(data_second_moment, dtype=jnp.float64)
        problem = (objective, mean, second)

        def scipy_objective(flat):
            value, grad = _loss_and_gradient(circuit, layout, problem, flat)
            value = float(value)
            if not np.isfinite(value):
                # An unstable recurrent circuit makes the doubling series of its covariance
                # diverge. L-BFGS-B's line search stops at a non-finite value as if converged;
                # a large finite one makes it backtrack into the stable region.
                return UNSTABLE_OBJECTIVE, np.zeros_like(flat)
            return value, np.asarray(grad, dtype=float)

        best, tried = None, []
        for start in starts:
            flat0 = np.concatenate([start[name].ravel() for name in names])
            # Random initialisations differ in the input map only, for a single-layer or
            # recurrent circuit: once it is profiled out, they are one start.
            if any(np.array_equal(flat0, earlier) for earlier in tried):
                continue
            tried.append(flat0)
            # No stop on the relative change of the objective (ftol at the rounding level):
            # near-symmetries of the optimum (mixtures of hidden units) leave directions with
            # curvature 1e-4 of the largest, along which L-BFGS keeps making slow, real progress.
            result = optimize.minimize(scipy_objective, flat0, jac=True, method="L-BFGS-B",
                                       options={"maxiter": max_iterations, "maxcor": 30, "ftol": 1e-15,
                                                "gtol": tolerance})
            if result.fun < UNSTABLE_OBJECTIVE and (best is None or result.fun < best.fun):
                best = result
        if best is None:
            raise ValueError("no initialisation reached a finite objective")
        params, terms = _solution(circuit, layout, problem, best.x)
        terms = {name: float(value) for name, value in terms.items()}
        params = {name: np.asarray(value, dtype=float) for name, value in params.items()}
    return params, terms
