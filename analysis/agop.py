"""Learning as inference (2): the average gradient outer product (AGOP) and the Neural
Feature Ansatz.

The Neural Feature Ansatz (Radhakrishnan, Beaglehole, Pandit & Belkin, Science 2024): a
trained layer's weight Gram matrix W^T W is proportional to a power of the AGOP of the
network with respect to that layer's input,

    AGOP(f) = (1/n) sum_i J_f(x_i)^T J_f(x_i),      J_f(x) = df/dx (outputs x inputs).

For a deep linear network f(x) = W_L ... W_1 x trained from small balanced initialisation
(W_{l+1}^T W_{l+1} = W_l W_l^T is preserved by gradient flow), AGOP = (W_1^T W_1)^L, so
the exponent is 1/L exactly. The Recursive Feature Machine (RFM) uses the same formula
without backpropagation: kernel ridge regression with a Mahalanobis kernel whose matrix is
re-estimated from the predictor's AGOP each iteration.

Correlation between matrices is the centred cosine similarity of the flattened entries,
as in the authors' own checks. Everything here is JAX (float64 inside ``jax.enable_x64``)
with NumPy results.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis import _validation as check

__all__ = ["agop", "matrix_power", "centred_cosine", "nfa_correlation", "deep_linear_network",
           "train_deep_linear", "relu_network", "train_relu_network", "rfm", "RFMResult"]


def agop(function, inputs) -> np.ndarray:
    """AGOP (D, D) of a JAX function R^D -> R^m (or R) over the rows of ``inputs`` (n, D)."""
    import jax
    import jax.numpy as jnp

    inputs = check.finite_array("inputs", inputs, ndim=2)
    with jax.enable_x64(True):
        jacobians = jax.vmap(jax.jacrev(function))(jnp.asarray(inputs, dtype=jnp.float64))
        jacobians = jacobians.reshape(inputs.shape[0], -1, inputs.shape[1])  # (n, m, D)
        return np.asarray(jnp.einsum("nmi,nmj->ij", jacobians, jacobians) / inputs.shape[0])


def matrix_power(matrix, exponent: float) -> np.ndarray:
    """M^exponent of a symmetric positive semi-definite matrix (negative eigenvalues clipped to 0)."""
    matrix = check.finite_array("matrix", matrix, ndim=2)
    values, vectors = np.linalg.eigh(0.5 * (matrix + matrix.T))
    return (vectors * np.clip(values, 0.0, None) ** exponent) @ vectors.T


def centred_cosine(a, b) -> float:
    """Cosine similarity of the flattened matrices after subtracting each one's mean entry."""
    a = np.asarray(a, dtype=float).ravel()
    b = np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"matrices must have the same number of entries, got {a.size} and {b.size}")
    a, b = a - a.mean(), b - b.mean()
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    if norm == 0:
        raise ValueError("a constant matrix has no centred cosine similarity")
    return float(a @ b / norm)


def nfa_correlation(weights, agop_matrix, exponents=(0.5, 1.0)) -> dict[float, float]:
    """corr(W^T W, AGOP^alpha) for each alpha: the Neural Feature Ansatz check of one layer."""
    gram = np.asarray(weights, dtype=float).T @ np.asarray(weights, dtype=float)
    return {float(alpha): centred_cosine(gram, matrix_power(agop_matrix, alpha)) for alpha in exponents}


# -- networks ------------------------------------------------------------------------------

def deep_linear_network(layers):
    """f(x) = W_L ... W_1 x for layers [W_1, ..., W_L] (each (out, in))."""
    def forward(x):
        for weight in layers:
            x = weight @ x
        return x

    return forward


def _train(loss, params, steps: int, learning_rate: float, optimizer: str, weight_decay: float = 0.0):
    import jax
    import optax

    if optimizer == "adam":
        solver = optax.adamw(learning_rate, weight_decay=weight_decay) if weight_decay else optax.adam(learning_rate)
    else:
        solver = optax.sgd(learning_rate)
    state = solver.init(params)

    @jax.jit
    def step(params, state):
        value, gradient = jax.value_and_grad(loss)(params)
        updates, state = solver.update(gradient, state, params)
        return optax.apply_updates(params, updates), state, value

    losses = []
    for _ in range(steps):
        params, state, value = step(params, state)
        losses.append(float(value))
    return params, np.array(losses)


def train_deep_linear(inputs, targets, depth: int, rng: np.random.Generator, init_scale: float = 0.05,
                      steps: int = 3000, learning_rate: float = 0.05) -> tuple[list[np.ndarray], np.ndarray]:
    """Train f(x) = W_L ... W_1 x (square D x D layers, D = inputs = outputs) on mean squared
    error by plain gradient descent (float64) from a small *balanced* start W_l = s Q_l, Q_l
    random orthogonal, so that W_{l+1}^T W_{l+1} = W_l W_l^T = s^2 I, a balance that gradient
    flow preserves. Returns (layers [W_1, ..., W_L], loss per step)."""
    import jax
    import jax.numpy as jnp

    inputs = check.finite_array("inputs", inputs, ndim=2)
    targets = check.finite_array("targets", targets, ndim=2)
    depth = check.count("depth", depth, 2)
    dim = inputs.shape[1]
    if targets.shape != inputs.shape:
        raise ValueError(f"targets must have the shape of inputs {inputs.shape} (square layers), got {targets.shape}")
    layers = [init_scale * np.linalg.qr(rng.normal(size=(dim, dim)))[0] for _ in range(depth)]
    with jax.enable_x64(True):
        data_x, data_y = jnp.asarray(inputs), jnp.asarray(targets)

        def loss(layers):
            prediction = data_x
            for weight in layers:
                prediction = prediction @ weight.T
            return 0.5 * jnp.mean(jnp.sum((prediction - data_y) ** 2, axis=1))

        params, losses = _train(loss, [jnp.asarray(w) for w in layers], steps, learning_rate, "sgd")
        return [np.asarray(w) for w in params], losses


def relu_network(params):
    """f(x) = a^T relu(W x + c): a two-layer ReLU network, scalar output."""
    import jax.numpy as jnp

    def forward(x):
        return jnp.dot(params["a"], jnp.maximum(params["W"] @ x + params["c"], 0.0))

    return forward


def train_relu_network(inputs, targets, width: int, rng: np.random.Generator, steps: int = 2000,
                       learning_rate: float = 0.01, init_scale: float = 1.0,
                       weight_decay: float = 0.0) -> tuple[dict, dict, np.ndarray]:
    """Train a two-layer ReLU network (Adam, or AdamW with ``weight_decay``; float64) on
    squared error from first-layer weights N(0, init_scale^2 / D); returns
    (initial params, trained params, loss per step)."""
    import jax
    import jax.numpy as jnp

    inputs = check.finite_array("inputs", inputs, ndim=2)
    targets = np.asarray(targets, dtype=float).reshape(-1)
    width = check.count("width", width, 1)
    dim = inputs.shape[1]
    initial = {"W": init_scale * rng.normal(size=(width, dim)) / np.sqrt(dim), "c": np.zeros(width),
               "a": rng.normal(size=width) / np.sqrt(width)}
    with jax.enable_x64(True):
        data_x, data_y = jnp.asarray(inputs), jnp.asarray(targets)

        def loss(params):
            hidden = jnp.maximum(data_x @ params["W"].T + params["c"], 0.0)
            return 0.5 * jnp.mean((hidden @ params["a"] - data_y) ** 2)

        trained, losses = _train(loss, {k: jnp.asarray(v) for k, v in initial.items()}, steps, learning_rate, "adam",
                                 weight_decay)
        return initial, {k: np.asarray(v) for k, v in trained.items()}, losses


# -- Recursive Feature Machine ---------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class RFMResult:
    """feature_matrix (D, D) the final M; test_error (iterations + 1,) mean squared error after
    each fit (iteration 0: the isotropic kernel); feature_matrices (iterations + 1, D, D)."""

    feature_matrix: np.ndarray
    test_error: np.ndarray
    feature_matrices: np.ndarray


def rfm(train_x, train_y, test_x, test_y, iterations: int = 5, bandwidth: float = 10.0, ridge: float = 1e-3,
        exponent: float = 0.5) -> RFMResult:
    """Recursive Feature Machine (Radhakrishnan et al. 2024): Laplace kernel
    K_M(x, z) = exp(-||x - z||_M / L), ||v||_M = sqrt(v^T M v); fit kernel ridge regression,
    then set M <- AGOP(predictor)^exponent (normalised to unit trace... times D), repeat."""
    import jax
    import jax.numpy as jnp

    train_x = check.finite_array("train_x", train_x, ndim=2)
    test_x = check.finite_array("test_x", test_x, ndim=2)
    train_y = np.asarray(train_y, dtype=float).reshape(-1)
    test_y = np.asarray(test_y, dtype=float).reshape(-1)
    dim = train_x.shape[1]
    iterations = check.count("iterations", iterations, 1)
    with jax.enable_x64(True):
        X = jnp.asarray(train_x)

        def kernel(a, b, M):
            diff = a[:, None, :] - b[None, :, :]
            squared = jnp.einsum("nmi,ij,nmj->nm", diff, M, diff)
            return jnp.exp(-jnp.sqrt(jnp.maximum(squared, 1e-30)) / bandwidth)

        M = jnp.eye(dim)
        matrices, errors = [np.asarray(M)], []
        for iteration in range(iterations + 1):
            coefficients = jnp.linalg.solve(kernel(X, X, M) + ridge * jnp.eye(X.shape[0]), jnp.asarray(train_y))
            prediction = kernel(jnp.asarray(test_x), X, M) @ coefficients
            errors.append(float(jnp.mean((prediction - test_y) ** 2)))
            if iteration == iterations:
                break

            def predictor(x, M=M, coefficients=coefficients):
                return (kernel(x[None, :], X, M) @ coefficients)[0]

            G = agop(predictor, train_x)
            G = matrix_power(G, exponent)
            M = jnp.asarray(G * dim / np.trace(G))
            matrices.append(np.asarray(M))
    return RFMResult(np.asarray(M), np.array(errors), np.array(matrices))
