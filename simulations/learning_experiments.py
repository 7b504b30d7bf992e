"""Learning as inference: the implicit-EM and AGOP experiments.

``run_implicit_em`` backs ``sampling-circuits run implicit-em`` and ``run_agop`` backs
``sampling-circuits run agop``. Everything random derives from ``seed`` through
``numpy.random.SeedSequence``.
"""

from __future__ import annotations

import time

import numpy as np
import xarray as xr

from analysis.agop import (
    agop,
    deep_linear_network,
    nfa_correlation,
    relu_network,
    rfm,
    train_deep_linear,
    train_relu_network,
)
from analysis.generative import GaussianMixture
from analysis.implicit_em import (
    MixtureParameters,
    em_step,
    fit_em,
    fit_gradient,
    independent_sigmoid_gradient,
    mean_gradient,
    mixture_distances,
    responsibility_gradient,
)
from circuits._validation import count
from simulations.results import new_dataset, scalar, variable

__all__ = ["run_implicit_em", "run_agop", "three_component_mixture"]


def three_component_mixture() -> GaussianMixture:
    """The known 3-component mixture in 2-D that the gradient-vs-EM comparison learns."""
    return GaussianMixture(np.array([[-3.0, 0.0], [3.0, 0.5], [0.0, 4.0]]),
                           np.stack([np.eye(2), np.diag([0.5, 1.5]), np.array([[1.0, 0.6], [0.6, 1.0]])]),
                           np.array([0.3, 0.3, 0.4]))


def _random_mixture(rng, k: int, dim: int = 3) -> MixtureParameters:
    factors = rng.normal(size=(k, dim, dim)) / np.sqrt(dim)
    return MixtureParameters(rng.normal(0, 2, (k, dim)), factors @ np.swapaxes(factors, -1, -2) + 0.3 * np.eye(dim),
                             rng.dirichlet(np.ones(k)))


def _escape_iteration(means: np.ndarray, threshold: float = 2.0) -> int:
    apart = np.linalg.norm(means[:, 0] - means[:, 1], axis=-1) > threshold
    return int(np.argmax(apart)) if apart.any() else len(means)


def run_implicit_em(seed: int, n_samples: int = 1500, gradient_iterations: int = 1500,
                    learning_rate: float = 0.05, progress: bool = True) -> xr.Dataset:
    """Oursland's identity dL/dd = -r and its classical companions, measured.

    - identity: max |dL/dd + r| for random mixtures of 2 to 10 components (float64);
    - Xu & Jordan: max |EM means - (means + Sigma_j / N_j dL/dmu_j)|;
    - a negative control: independent sigmoids, max |dL/dd + softmax(-d)|;
    - learning: EM and Adam gradient ascent from the same start on ``n_samples`` draws of
      ``three_component_mixture``, log-likelihood per iteration and wall time;
    - escape: two components started 2e-3 apart at the data mean (means learned, unit
      covariances), iterations until they are 2 apart, EM vs plain gradient ascent at
      learning rates 0.1, 1 and 2 (2 is EM's own step Sigma_j / pi_j here).
    """
    count("seed", seed, 0)
    started = time.perf_counter()
    seeds = np.random.SeedSequence(seed).spawn(4)
    rng = np.random.default_rng(seeds[0])
    components = np.arange(2, 11)
    identity_error = []
    for k in components:
        params = _random_mixture(rng, int(k))
        x = rng.normal(0, 3, (50, 3))
        gradient, resp = responsibility_gradient(x, params.means, params.covs, params.weights)
        identity_error.append(np.max(np.abs(gradient + resp)))
    params = _random_mixture(rng, 4)
    x = rng.normal(0, 3, (200, 3))
    counts = params.mixture.responsibilities(x).sum(0)
    preconditioned = params.means + np.einsum("kij,kj->ki", params.covs, mean_gradient(x, params)) / counts[:, None]
    xu_jordan_error = np.max(np.abs(em_step(x, params).means - preconditioned))
    distances = mixture_distances(x, params)
    softmax = np.exp(-distances - np.logaddexp.reduce(-distances, axis=1, keepdims=True))
    sigmoid_deviation = np.max(np.abs(independent_sigmoid_gradient(distances) + softmax))

    data_rng = np.random.default_rng(seeds[1])
    _, data = three_component_mixture().sample(n_samples, data_rng)
    start = data[data_rng.choice(n_samples, 3, replace=False)]
    initial = MixtureParameters(start, np.stack([np.cov(data.T)] * 3), np.full(3, 1 / 3))
    em = fit_em(data, initial)
    gradient = fit_gradient(data, initial, iterations=gradient_iterations, learning_rate=learning_rate)
    target = em.log_likelihood[-1]
    within = np.abs(gradient.log_likelihood - target) < 0.01 * abs(target)
    gradient_to_1pct = int(np.argmax(within)) if within.any() else gradient.iterations + 1

    escape_rng = np.random.default_rng(seeds[2])
    two = np.concatenate([escape_rng.normal([-2.0, 0.0], 1.0, (300, 2)), escape_rng.normal([2.0, 0.0], 1.0, (300, 2))])
    nudge = np.array([1e-3, 0.0])
    symmetric = MixtureParameters(np.stack([two.mean(0) - nudge, two.mean(0) + nudge]), np.stack([np.eye(2)] * 2),
                                  np.array([0.5, 0.5]))
    em_escape = _escape_iteration(fit_em(two, symmetric, 300, -np.inf, train=("means",)).means)
    rates = np.array([0.1, 1.0, 2.0])
    gradient_escape = [_escape_iteration(fit_gradient(two, symmetric, 300, rate, "sgd", ("means",)).means)
                       for rate in rates]

    data_vars = {
        "identity_error": variable("components", identity_error, "1", "max |dL/dd + r| (float64)"),
        "xu_jordan_error": scalar(xu_jordan_error, "1", "max |EM means - (means + Sigma_j/N_j dL/dmu_j)|"),
        "sigmoid_control_deviation": scalar(sigmoid_deviation, "1",
                                             "independent sigmoids: max |dL/dd + softmax(-d)| (no identity)"),
        "em_log_likelihood": variable("em_iteration", em.log_likelihood, "nats", "mean log-likelihood, EM"),
        "gradient_log_likelihood": variable("gradient_iteration", gradient.log_likelihood, "nats",
                                            "mean log-likelihood, Adam gradient ascent"),
        "em_iterations": scalar(em.iterations, "1", "EM iterations to convergence (1e-8 nats)"),
        "em_seconds": scalar(em.seconds, "s", "EM wall time"),
        "gradient_seconds": scalar(gradient.seconds, "s", "gradient ascent wall time (incl. compilation)"),
        "gradient_iterations_to_1pct": scalar(gradient_to_1pct, "1",
                                               "gradient iterations until within 1% of EM's log-likelihood"),
        "final_relative_gap": scalar(abs(gradient.log_likelihood[-1] - target) / abs(target), "1",
                                      "|gradient - EM| / |EM| final log-likelihood"),
        "em_escape_iterations": scalar(em_escape, "1", "EM iterations until two coincident components part"),
        "gradient_escape_iterations": variable("learning_rate", gradient_escape, "1",
                                               "plain gradient-ascent iterations until the components part"),
        "data": variable(("sample", "dim"), data, "1", "draws of the 3-component mixture"),
    }
    coords = {
        "components": variable("components", components, "1", "number of mixture components"),
        "em_iteration": variable("em_iteration", np.arange(em.iterations + 1), "1", "EM iteration"),
        "gradient_iteration": variable("gradient_iteration", np.arange(gradient.iterations + 1), "1",
                                       "gradient iteration"),
        "learning_rate": variable("learning_rate", rates, "1", "plain gradient-ascent step on the mean log-likelihood"),
        "sample": variable("sample", np.arange(n_samples), "1", "data point"),
        "dim": variable("dim", np.arange(2), "1", "data dimension"),
    }
    config = {"experiment": "implicit-em", "seed": seed, "n_samples": n_samples,
              "gradient_iterations": gradient_iterations, "learning_rate": learning_rate}
    ds = new_dataset(data_vars, coords, config, "implicit-em")
    ds.attrs["wall_time_s"] = time.perf_counter() - started
    return ds


def run_agop(seed: int, rate_results=None, dim: int = 8, progress: bool = True) -> xr.Dataset:
    """The Neural Feature Ansatz on three kinds of learner, and the AGOP of a trained circuit.

    - deep linear networks (depth 2 and 3, square D x D layers, balanced start) on a random
      full-rank linear target: corr(W_1^T W_1, AGOP^alpha) over alpha (peaks at 1/L);
    - a two-layer ReLU network (width 128, 4,000 samples, first-layer init scale 0.1, AdamW
      at 0.003 with weight decay 0.05, 3,000 steps) on y = relu(u.x)^2 + sin(2 u.x):
      correlation at initialisation and after training, and the cosine of the top AGOP
      eigenvector with u (measured over seeds 1-6: 0.71-0.87 before, 0.95-1.00 after);
    - the RFM on the same task: test error per iteration and alignment with u;
    - with ``rate_results`` (a ``run gsm`` file of a feed-forward circuit): the AGOP of the
      trained noise sds sigma(x) over the test inputs, i.e. which input directions the
      circuit's variability depends on, and the fraction of its top eigenvector inside
      span(A) (0.5 expected by chance for D = 8, K = 4).
    """
    count("seed", seed, 0)
    dim = count("dim", dim, 2)
    started = time.perf_counter()
    seeds = np.random.SeedSequence(seed).spawn(5)
    rng = np.random.default_rng(seeds[0])
    left, right = (np.linalg.qr(rng.normal(size=(dim, dim)))[0] for _ in range(2))
    target = left @ np.diag(np.geomspace(3.0, 0.1, dim)) @ right.T
    inputs = rng.normal(size=(200, dim))
    exponents = np.round(np.arange(0.05, 1.501, 0.05), 2)
    linear_curves = []
    for depth in (2, 3):
        layers, _ = train_deep_linear(inputs, inputs @ target.T, depth, np.random.default_rng(seeds[1]))
        curve = nfa_correlation(layers[0], agop(deep_linear_network(layers), inputs), exponents)
        linear_curves.append([curve[float(a)] for a in exponents])
    linear_curves = np.array(linear_curves)

    task_rng = np.random.default_rng(seeds[2])
    direction = task_rng.normal(size=dim)
    direction /= np.linalg.norm(direction)
    x = task_rng.normal(size=(4000, dim))
    y = np.maximum(x @ direction, 0) ** 2 + np.sin(2 * x @ direction)
    initial, trained, losses = train_relu_network(x, y, 128, np.random.default_rng(seeds[3]), steps=3000,
                                                  learning_rate=0.003, init_scale=0.1, weight_decay=0.05)
    relu_exponents = (0.5, 1.0)
    before = nfa_correlation(initial["W"], agop(relu_network(initial), x[:500]), relu_exponents)
    trained_agop = agop(relu_network(trained), x[:500])
    after = nfa_correlation(trained["W"], trained_agop, relu_exponents)
    relu_cosine = abs(np.linalg.eigh(trained_agop)[1][:, -1] @ direction)
    machine = rfm(x[:400], y[:400], x[400:600], y[400:600], iterations=3)
    rfm_cosine = abs(np.linalg.eigh(machine.feature_matrix)[1][:, -1] @ direction)

    data_vars = {
        "linear_correlation": variable(("depth", "exponent"), linear_curves, "1",
                                       "corr(W_1^T W_1, AGOP^alpha), deep linear network"),
        "linear_best_exponent": variable("depth", exponents[np.argmax(linear_curves, axis=1)], "1",
                                         "alpha of the highest correlation (theory: 1 / depth)"),
        "relu_correlation_init": variable("relu_exponent", [before[a] for a in relu_exponents], "1",
                                          "corr(W^T W, AGOP^alpha) at initialisation"),
        "relu_correlation_trained": variable("relu_exponent", [after[a] for a in relu_exponents], "1",
                                             "corr(W^T W, AGOP^alpha) after training"),
        "relu_top_direction_cosine": scalar(relu_cosine, "1", "|cos| of the top AGOP eigenvector with u"),
        "relu_loss": variable("relu_step", losses, "1", "training loss (mean squared error / 2)"),
        "rfm_test_error": variable("rfm_iteration", machine.test_error, "1", "RFM test mean squared error"),
        "rfm_top_direction_cosine": scalar(rfm_cosine, "1", "|cos| of the RFM's top feature direction with u"),
        "target_direction": variable("obs", direction, "1", "u: the direction the ReLU/RFM target depends on"),
    }
    coords = {
        "depth": variable("depth", [2, 3], "1", "layers of the deep linear network"),
        "exponent": variable("exponent", exponents, "1", "alpha in AGOP^alpha"),
        "relu_exponent": variable("relu_exponent", list(relu_exponents), "1", "alpha in AGOP^alpha"),
        "relu_step": variable("relu_step", np.arange(1, losses.size + 1), "1", "optimiser step"),
        "rfm_iteration": variable("rfm_iteration", np.arange(machine.test_error.size), "1",
                                  "RFM iteration (0: isotropic kernel)"),
        "obs": variable("obs", np.arange(dim), "1", "input dimension"),
    }
    config = {"experiment": "agop", "seed": seed, "dim": dim}
    if rate_results is not None:
        circuit_vars, circuit_coords, source = _circuit_variability_agop(rate_results)
        data_vars.update(circuit_vars)
        coords.update(circuit_coords)
        config["rate_circuit"] = source
    ds = new_dataset(data_vars, coords, config, "agop")
    ds.attrs["wall_time_s"] = time.perf_counter() - started
    return ds


def _circuit_variability_agop(rate_results):
    """AGOP of a trained feed-forward circuit's noise sds sigma(x) over its test inputs."""
    from simulations.results import config_of, load
    from simulations.tasks import trained_circuit

    if not isinstance(rate_results, xr.Dataset):
        rate_results = load(rate_results)
    if config_of(rate_results).get("architecture") == "recurrent":
        raise ValueError("the circuit AGOP needs a feed-forward circuit (its noise sd is a function of x)")
    circuit, params, config = trained_circuit(rate_results)
    x = rate_results["x"].values
    matrix = agop(lambda v: circuit.output_noise_std(params, v[None, :])[0], x)
    values, vectors = np.linalg.eigh(matrix)
    data_vars = {
        "variability_agop": variable(("circuit_input", "circuit_input_"), matrix, "1",
                                     "AGOP of the circuit's noise sds over test inputs"),
        "variability_agop_eigenvalues": variable("circuit_input", values[::-1], "1", "its eigenvalues, largest first"),
    }
    # An ungated circuit's noise does not depend on x at all: its AGOP is zero and has no top direction.
    if values[-1] > 1e-12 * max(1.0, float(np.abs(matrix).max())):
        top = vectors[:, -1]
        basis = np.linalg.qr(rate_results["A"].values)[0]
        data_vars["variability_top_direction"] = variable("circuit_input", top, "1",
                                                          "input direction the variability depends on most")
        data_vars["variability_top_in_span_A"] = scalar(np.sum((basis.T @ top) ** 2), "1",
                                                         "squared norm of that direction inside span(A)")
    coords = {"circuit_input": variable("circuit_input", np.arange(x.shape[1]), "1", "circuit input dimension"),
              "circuit_input_": variable("circuit_input_", np.arange(x.shape[1]), "1", "second input axis")}
    return data_vars, coords, config
