"""Learning as inference (1): gradient descent on a log-sum-exp objective performs EM implicitly.

Write a Gaussian mixture's log-likelihood as a log-sum-exp of negative distances,

    L(x) = log sum_j exp(-d_j(x)),
    d_j(x) = -log w_j + 1/2 log det(2 pi Sigma_j) + 1/2 (x - mu_j)^T Sigma_j^-1 (x - mu_j),

then dL/dd_j = -r_j(x), the posterior responsibility p(j | x): the gradient of a
log-sum-exp objective *is* the E-step (Oursland 2025; Fisher's identity for log-sum-exp
objectives). Its classical companions, both checked by the tests:
- Xu & Jordan (1996): one EM step is the gradient times a positive-definite matrix; for
  the means, mu_j(EM) - mu_j = (Sigma_j / N_j) dL/dmu_j, N_j = sum_i r_ij;
- Neal & Hinton (1998): EM is coordinate ascent on the free energy
  F(q, theta) = sum_i sum_j q_ij (log w_j + log N(x_i; mu_j, Sigma_j) - log q_ij),
  which equals L(theta) at q = r.
Cross-entropy in distance form (L = d_y + log sum_j exp(-d_j)) has gradient 1[j = y] - r_j;
a loss with no partition function (independent sigmoids) has no such identity.

Gradients are taken with JAX in float64 (``jax.enable_x64``); everything else is NumPy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy import special

from analysis import _validation as check
from analysis.generative import GaussianMixture

__all__ = ["MixtureParameters", "Fit", "mixture_distances", "responsibility_gradient", "cross_entropy_gradient",
           "independent_sigmoid_gradient", "log_likelihood", "em_step", "mean_gradient", "free_energy",
           "fit_em", "fit_gradient"]


@dataclass(frozen=True, eq=False)
class MixtureParameters:
    """means (k, D), covs (k, D, D) symmetric positive definite, weights (k,) summing to one."""

    means: np.ndarray
    covs: np.ndarray
    weights: np.ndarray

    def __post_init__(self):
        # GaussianMixture validates shapes, positive definiteness and the weights.
        mixture = GaussianMixture(self.means, self.covs, self.weights)
        object.__setattr__(self, "means", mixture.means)
        object.__setattr__(self, "covs", mixture.covs)
        object.__setattr__(self, "weights", mixture.weights)

    @property
    def mixture(self) -> GaussianMixture:
        return GaussianMixture(self.means, self.covs, self.weights)


def _distances(x, means, covs, weights, xp):
    """d (n, k) in the array namespace xp (numpy or jax.numpy)."""
    chol = xp.linalg.cholesky(covs)  # (k, D, D)
    diff = x[:, None, :] - means[None, :, :]  # (n, k, D)
    # Solve L y = diff for every component: whitened residuals.
    solved = xp.linalg.solve(chol[None], diff[..., None])[..., 0]
    half_logdet = xp.sum(xp.log(xp.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)
    dim = x.shape[1]
    return -xp.log(weights) + half_logdet + 0.5 * dim * np.log(2 * np.pi) + 0.5 * xp.sum(solved**2, axis=-1)


def mixture_distances(x, params: MixtureParameters) -> np.ndarray:
    """d_j(x_i) (n, k), nats: L = logsumexp(-d) is the mixture log-likelihood of each x_i."""
    x = check.observations("x", x, params.means.shape[1])
    with np.errstate(divide="ignore"):
        return _distances(x, params.means, params.covs, params.weights, np)


def _grad_float64(function, argument):
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        return np.asarray(jax.grad(function)(jnp.asarray(argument, dtype=jnp.float64)))


def responsibility_gradient(x, means, covs, weights) -> tuple[np.ndarray, np.ndarray]:
    """(dL/dd, r), both (n, k): the gradient of sum_i logsumexp(-d_i) with respect to the
    distances by autodiff, and the exact responsibilities of ``analysis.generative.GaussianMixture``.
    The identity says dL/dd = -r."""
    import jax

    params = MixtureParameters(means, covs, weights)
    d = mixture_distances(x, params)
    gradient = _grad_float64(lambda dist: jax.nn.logsumexp(-dist, axis=1).sum(), d)
    return gradient, params.mixture.responsibilities(x)


def cross_entropy_gradient(distances, labels) -> np.ndarray:
    """dL/dd for L = sum_i (d_{i, y_i} + logsumexp(-d_i)): equals 1[j = y] - r_j."""
    import jax
    import jax.numpy as jnp

    distances = check.finite_array("distances", distances, ndim=2)
    labels = np.asarray(labels, dtype=int)
    if labels.shape != distances.shape[:1] or np.any((labels < 0) | (labels >= distances.shape[1])):
        raise ValueError(f"labels must be {distances.shape[0]} integers in [0, {distances.shape[1]})")
    rows = np.arange(labels.size)
    return _grad_float64(lambda d: jnp.sum(d[rows, labels] + jax.nn.logsumexp(-d, axis=1)), distances)


def independent_sigmoid_gradient(distances) -> np.ndarray:
    """dL/dd for L = sum_ij log sigmoid(-d_ij): each unit on its own, no partition function.
    The gradient is -sigmoid(d_ij), which is not a responsibility (rows need not sum to 1)."""
    import jax
    import jax.numpy as jnp

    distances = check.finite_array("distances", distances, ndim=2)
    return _grad_float64(lambda d: jnp.sum(jax.nn.log_sigmoid(-d)), distances)


def log_likelihood(x, params: MixtureParameters) -> float:
    """Mean log-likelihood per data point, nats."""
    return float(np.mean(special.logsumexp(-mixture_distances(x, params), axis=1)))


_PARAMETER_GROUPS = ("means", "covs", "weights")


def _check_groups(train) -> tuple[str, ...]:
    train = tuple(train)
    if not train or set(train) - set(_PARAMETER_GROUPS):
        raise ValueError(f"train must name some of {', '.join(_PARAMETER_GROUPS)}; got {train!r}")
    return train


def em_step(x, params: MixtureParameters, covariance_floor: float = 1e-6,
            train: tuple[str, ...] = _PARAMETER_GROUPS) -> MixtureParameters:
    """One classical EM step (Dempster, Laird & Rubin 1977): E-step responsibilities, then the
    closed-form M-step for the parameter groups in ``train`` (the others stay fixed).
    ``covariance_floor`` (added to the diagonal) keeps a collapsing component's covariance
    positive definite."""
    train = _check_groups(train)
    x = check.observations("x", x, params.means.shape[1])
    resp = params.mixture.responsibilities(x)
    counts = resp.sum(0)
    if np.any(counts <= 0):
        raise ValueError("a component has no responsibility left; EM cannot update it")
    means = (resp.T @ x) / counts[:, None] if "means" in train else params.means
    covs = params.covs
    if "covs" in train:
        diff = x[None, :, :] - means[:, None, :]
        covs = np.einsum("nk,kni,knj->kij", resp, diff, diff) / counts[:, None, None]
        covs = covs + covariance_floor * np.eye(x.shape[1])
    weights = counts / counts.sum() if "weights" in train else params.weights
    return MixtureParameters(means, covs, weights)


def mean_gradient(x, params: MixtureParameters) -> np.ndarray:
    """dL/dmu (k, D) of the summed log-likelihood L = sum_i logsumexp(-d_i), by autodiff."""
    import jax

    x = check.observations("x", x, params.means.shape[1])

    def total(means):
        import jax.numpy as jnp

        return jax.nn.logsumexp(-_distances(x, means, params.covs, params.weights, jnp), axis=1).sum()

    return _grad_float64(total, params.means)


def free_energy(x, params: MixtureParameters, q) -> float:
    """Neal & Hinton's F(q, theta) = sum_ij q_ij (-d_ij - log q_ij), nats (0 log 0 = 0)."""
    d = mixture_distances(x, params)
    q = np.asarray(q, dtype=float)
    if q.shape != d.shape or np.any(q < 0) or not np.allclose(q.sum(1), 1.0):
        raise ValueError(f"q must be a ({d.shape[0]}, {d.shape[1]}) array of distributions over components")
    return float(np.sum(q * -d) - np.sum(special.xlogy(q, q)))


@dataclass(frozen=True, eq=False)
class Fit:
    """A fitted mixture: ``params``; ``log_likelihood`` (iterations + 1,) mean nats per point,
    before the first and after each iteration; ``means`` (iterations + 1, k, D) the means
    along the way; ``seconds`` wall time."""

    params: MixtureParameters
    log_likelihood: np.ndarray
    means: np.ndarray
    seconds: float

    @property
    def iterations(self) -> int:
        return self.log_likelihood.size - 1


def fit_em(x, initial: MixtureParameters, max_iterations: int = 500, tolerance: float = 1e-8,
           train: tuple[str, ...] = _PARAMETER_GROUPS) -> Fit:
    """Run EM (on the groups in ``train``) until the mean log-likelihood improves by less
    than ``tolerance`` nats."""
    started = time.perf_counter()
    params, history, means = initial, [log_likelihood(x, initial)], [initial.means]
    for _ in range(check.count("max_iterations", max_iterations)):
        params = em_step(x, params, train=train)
        history.append(log_likelihood(x, params))
        means.append(params.means)
        if history[-1] - history[-2] < tolerance:
            break
    return Fit(params, np.array(history), np.array(means), time.perf_counter() - started)


def _unconstrained(params: MixtureParameters) -> dict:
    chol = np.linalg.cholesky(params.covs)
    diagonal = np.log(np.diagonal(chol, axis1=-2, axis2=-1))
    return {"means": params.means, "chol_lower": np.tril(chol, -1), "log_chol_diag": diagonal,
            "logits": np.log(params.weights)}


def _constrained(raw, xp):
    eye = xp.eye(raw["means"].shape[1])
    chol = xp.tril(raw["chol_lower"], -1) + eye * xp.exp(raw["log_chol_diag"])[..., None, :]
    covs = chol @ xp.swapaxes(chol, -1, -2)
    weights = xp.exp(raw["logits"] - xp.max(raw["logits"]))
    return raw["means"], covs, weights / xp.sum(weights)


def fit_gradient(x, initial: MixtureParameters, iterations: int = 2000, learning_rate: float = 0.05,
                 optimizer: str = "adam", train: tuple[str, ...] = _PARAMETER_GROUPS) -> Fit:
    """Gradient ascent on the mean log-likelihood over unconstrained parameters (means,
    Cholesky factors with log-diagonal, weight logits), with optax ``adam`` or plain ``sgd``
    (learning_rate per iteration). ``train`` selects what moves."""
    import jax
    import jax.numpy as jnp
    import optax

    x = check.observations("x", x, initial.means.shape[1])
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    groups = {"means": ("means",), "covs": ("chol_lower", "log_chol_diag"), "weights": ("logits",)}
    train = _check_groups(train)
    trained = [name for group in train for name in groups[group]]
    started = time.perf_counter()
    with jax.enable_x64(True):
        raw = {name: jnp.asarray(value, dtype=jnp.float64) for name, value in _unconstrained(initial).items()}
        data = jnp.asarray(x, dtype=jnp.float64)

        def mean_log_likelihood(moving, fixed):
            means, covs, weights = _constrained({**fixed, **moving}, jnp)
            return jax.nn.logsumexp(-_distances(data, means, covs, weights, jnp), axis=1).mean()

        solver = (optax.adam if optimizer == "adam" else optax.sgd)(learning_rate)
        moving = {name: raw[name] for name in trained}
        fixed = {name: value for name, value in raw.items() if name not in trained}
        state = solver.init(moving)

        @jax.jit
        def step(moving, state):
            value, gradient = jax.value_and_grad(mean_log_likelihood)(moving, fixed)
            updates, state = solver.update(jax.tree_util.tree_map(lambda g: -g, gradient), state, moving)
            return optax.apply_updates(moving, updates), state, value

        history, trace = [], []
        for _ in range(check.count("iterations", iterations)):
            trace.append(np.asarray({**fixed, **moving}["means"]))
            moving, state, value = step(moving, state)
            history.append(float(value))
        history.append(float(mean_log_likelihood(moving, fixed)))
        means, covs, weights = (np.asarray(a) for a in _constrained({**fixed, **moving}, jnp))
        trace.append(means)
    return Fit(MixtureParameters(means, covs, weights), np.array(history), np.array(trace),
               time.perf_counter() - started)
