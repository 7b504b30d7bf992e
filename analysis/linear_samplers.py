"""Linear (Ornstein-Uhlenbeck) samplers of a Gaussian N(0, H^-1) and how fast they converge.

A linear stochastic circuit dx = -B x dt + sqrt(2 D) dW (drift B, diffusion D symmetric
positive definite) has the stationary covariance S that solves B S + S B^T = 2 D, and it
forgets its start at the rate min Re eig(B) (per unit time). It samples N(0, H^-1) exactly
when B = (D + Q) H with Q antisymmetric (Q = 0: the reversible Langevin sampler, whose rate
with D = I is the smallest eigenvalue of H, slow for an ill-conditioned posterior).

Irreversibility never slows convergence (Hwang, Hwang-Ma & Sheu 1993): with D = I, B is
similar to H + A, A = H^1/2 Q H^1/2 antisymmetric, and an eigenvector v of H + A has
Re(v* (H + A) v) = v* H v >= lambda_min(H). Nor can it beat tr(H) / K: tr(B) = tr(H) for
every antisymmetric Q, so the mean of the eigenvalues' real parts is fixed. Lelievre, Nier &
Pavliotis (2013) showed that the bound is reached, and how: in an orthonormal basis in which
H has a constant diagonal (tr(H) / K), take A to cancel H below the diagonal and double it
above, so that H + A is upper triangular with every eigenvalue tr(H) / K
(``optimal_irreversible_drift``). The optimum is far from normal (a Jordan-like block;
``henrici_departure`` measures it), so it reaches its asymptotic rate only after a
polynomial prefactor. Yet in the target's own metric no such sampler ever moves away from
the target: with y = H^1/2 x, d|y|^2/dt = -2 y^T H y, so ``decay_norm`` is at most
exp(-lambda_min(H) t) for every antisymmetric Q.

Units: time in units of the sampler's own time scale (D = I); rates per unit time.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

__all__ = ["langevin_drift", "optimal_irreversible_drift", "convergence_rate", "stationary_covariance",
           "decay_norm", "henrici_departure", "constant_diagonal_basis"]


def _precision(precision) -> np.ndarray:
    h = np.asarray(precision, dtype=float)
    if h.ndim != 2 or h.shape[0] != h.shape[1] or h.shape[0] < 1 or not np.all(np.isfinite(h)):
        raise ValueError(f"precision must be a finite square (K, K) matrix, got shape {h.shape}")
    if not np.allclose(h, h.T, rtol=1e-10, atol=1e-12 * np.abs(h).max()):
        raise ValueError("precision must be symmetric")
    if np.linalg.eigvalsh(h).min() <= 0:
        raise ValueError("precision must be positive definite")
    return 0.5 * (h + h.T)


def langevin_drift(precision, diffusion=None) -> np.ndarray:
    """The reversible sampler's drift B = D H (D = I by default): dx = -D H x dt + sqrt(2 D) dW."""
    h = _precision(precision)
    d = np.eye(len(h)) if diffusion is None else _precision(diffusion)
    return d @ h


def constant_diagonal_basis(matrix) -> np.ndarray:
    """An orthogonal P (K, K) such that P^T M P has every diagonal entry equal to tr(M) / K,
    for a symmetric M: K - 1 Givens rotations, each setting one diagonal entry to the mean
    while keeping the trace (the constructive step behind the Schur-Horn theorem)."""
    m = np.array(matrix, dtype=float)
    size = len(m)
    target = np.trace(m) / size
    basis = np.eye(size)
    scale = max(np.abs(m).max(), 1.0)
    for _ in range(size - 1):
        diagonal = np.diag(m) - target
        above, below = int(np.argmax(diagonal)), int(np.argmin(diagonal))
        if diagonal[above] <= 1e-14 * scale:
            break
        a, c, b = m[above, above], m[below, below], m[above, below]
        # After a rotation by theta in the (above, below) plane the first diagonal entry is
        # (a + c)/2 + (a - c)/2 cos(2 theta) - b sin(2 theta) = (a + c)/2 + R cos(2 theta + phi);
        # it moves continuously from a to c, so it passes the target.
        half_gap = 0.5 * (a - c)
        radius, phase = np.hypot(half_gap, b), np.arctan2(b, half_gap)
        theta = 0.5 * (np.arccos(np.clip((target - 0.5 * (a + c)) / radius, -1.0, 1.0)) - phase)
        rotation = np.eye(size)
        rotation[[above, below], [above, below]] = np.cos(theta)
        rotation[above, below], rotation[below, above] = np.sin(theta), -np.sin(theta)
        m = rotation.T @ m @ rotation
        basis = basis @ rotation
    return basis


def optimal_irreversible_drift(precision) -> tuple[np.ndarray, np.ndarray]:
    """The fastest linear sampler of N(0, H^-1) with D = I (Lelievre, Nier & Pavliotis 2013):
    returns (B, Q), drift B = (I + Q) H and Q antisymmetric, with every eigenvalue of B equal to
    tr(H) / K, so its rate is the largest any antisymmetric Q can give."""
    h = _precision(precision)
    basis = constant_diagonal_basis(h)
    rotated = basis.T @ h @ basis
    upper = np.triu(rotated, 1)
    antisymmetric = basis @ (upper - upper.T) @ basis.T  # H + A is upper triangular in that basis
    root = linalg.sqrtm(h).real
    inverse_root = np.linalg.inv(root)
    q = inverse_root @ antisymmetric @ inverse_root
    q = 0.5 * (q - q.T)  # antisymmetric to rounding
    return (np.eye(len(h)) + q) @ h, q


def convergence_rate(drift) -> float:
    """min Re eig(B): the asymptotic rate at which the mean (and the covariance, at twice the
    rate) of dx = -B x dt + noise forgets its start. Computed eigenvalues of a defective B
    (the optimal irreversible drift is one Jordan-like block) scatter by about eps^(1/K), so
    for it use its exact rate tr(H) / K."""
    b = np.asarray(drift, dtype=float)
    return float(np.linalg.eigvals(b).real.min())


def stationary_covariance(drift, diffusion=None) -> np.ndarray:
    """S solving B S + S B^T = 2 D (D = I by default); ValueError if B is not stable."""
    b = np.asarray(drift, dtype=float)
    if convergence_rate(b) <= 0:
        raise ValueError(f"drift has an eigenvalue with real part {convergence_rate(b):.3g} <= 0: no stationary "
                         "distribution")
    d = np.eye(len(b)) if diffusion is None else np.asarray(diffusion, dtype=float)
    return linalg.solve_continuous_lyapunov(b, 2 * d)


def decay_norm(drift, precision, time: float) -> float:
    """||H^1/2 exp(-B t) H^-1/2||_2: the largest factor by which the mean's distance from the
    target (in the target's own metric) can remain after time t. The reversible sampler's is
    exp(-lambda_min(H) t), and no sampler B = (I + Q) H exceeds it (module docstring)."""
    h = _precision(precision)
    if not time >= 0:
        raise ValueError(f"time must be >= 0, got {time!r}")
    root = linalg.sqrtm(h).real
    propagator = root @ linalg.expm(-np.asarray(drift, dtype=float) * time) @ np.linalg.inv(root)
    return float(np.linalg.norm(propagator, 2))


def henrici_departure(matrix) -> float:
    """Henrici's departure from normality, sqrt(||M||_F^2 - sum |lambda|^2) / ||M||_F: 0 for a
    normal matrix (e.g. the reversible drift in the precision's metric), up to 1."""
    m = np.asarray(matrix, dtype=float)
    frobenius = np.sum(m**2)
    eigen = np.sum(np.abs(np.linalg.eigvals(m)) ** 2)
    return float(np.sqrt(max(frobenius - eigen, 0.0) / frobenius))
