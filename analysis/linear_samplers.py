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
           "decay_norm", "henrici_departure", "constant_diagonal_basis", "steps_to_stationarity",
           "integrated_autocorrelation_steps", "circuit_drift", "euler_update"]


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


def steps_to_stationarity(update, stationary_mean, stationary_cov, start, tolerance: float = 0.01,
                          max_steps: int = 10**9, start_cov=None, readout: int | None = None) -> int:
    """Steps a discrete-time linear sampler z' = F z + c + noise needs, from the point ``start``
    (or from N(start, start_cov)), before its marginal is within ``tolerance`` nats of its
    stationary distribution N(m, S): the smallest t with KL(N(m_t, S_t) || N(m, S)) <= tolerance,
    where m_t = m + F^t (start - m) and S_t = S - F^t (S - start_cov) F^tT (exact for Gaussian
    noise). A circuit at rest starts at a point; one in spontaneous activity when a stimulus
    comes on starts from the blank input's stationary distribution, whose covariance, for a
    linear circuit, is already S (``start_cov = S``: only the mean has to move).

    ``readout``: the KL of the first ``readout`` coordinates' marginal only (the cells read
    out, e.g. the excitatory cells of an E/I circuit), which settles no later than the whole
    state's. A Markov chain's KL to its stationary distribution never increases (the
    data-processing inequality), so doubling and then bisection find t in O(log t) matrix
    powers. ValueError if t would exceed ``max_steps``.
    """
    from analysis.compare import gaussian_kl

    f = np.asarray(update, dtype=float)
    mean = np.asarray(stationary_mean, dtype=float)
    cov = np.asarray(stationary_cov, dtype=float)
    offset = np.asarray(start, dtype=float) - mean
    deficit = cov if start_cov is None else cov - np.asarray(start_cov, dtype=float)
    if not tolerance > 0:
        raise ValueError(f"tolerance must be > 0 nats, got {tolerance!r}")

    if readout is not None and not 1 <= readout <= len(f):
        raise ValueError(f"readout must be between 1 and the state's {len(f)} coordinates, got {readout!r}")
    read = slice(None) if readout is None else slice(0, readout)

    def kl_after(steps: int) -> float:
        power = np.linalg.matrix_power(f, steps)
        moved_mean, moved_cov = mean + power @ offset, cov - power @ deficit @ power.T
        try:
            return float(gaussian_kl(moved_mean[read], moved_cov[read, read], mean[read], cov[read, read]))
        except ValueError:  # S_t not numerically positive definite: far from stationary
            return np.inf

    upper = 1
    while kl_after(upper) > tolerance:
        upper *= 2
        if upper > max_steps:
            raise ValueError(f"the sampler is not within {tolerance} nats of stationarity after max_steps = "
                             f"{max_steps} steps")
    if upper == 1 and kl_after(0) <= tolerance:
        return 0
    lower = upper // 2  # kl_after(lower) > tolerance
    while upper - lower > 1:
        middle = (lower + upper) // 2
        if kl_after(middle) <= tolerance:
            upper = middle
        else:
            lower = middle
    return upper


def integrated_autocorrelation_steps(update, stationary_cov) -> np.ndarray:
    """Integrated autocorrelation time of each coordinate of a stationary linear sampler
    z' = F z + c + noise, in steps: tau_i = 1 + 2 sum_{t >= 1} rho_i(t), with the lag-t
    autocovariance F^t S, so the sum is (F (I - F)^-1 S)_ii / S_ii in closed form.
    N draws carry N / tau_i effective samples of coordinate i's mean (the quantity ESS
    estimators such as arviz-stats' estimate); tau_i < 1 for anticorrelated draws."""
    f = np.asarray(update, dtype=float)
    cov = np.asarray(stationary_cov, dtype=float)
    if f.ndim != 2 or f.shape[0] != f.shape[1] or cov.shape != f.shape:
        raise ValueError(f"update and stationary_cov must be square and the same shape, got {f.shape}, {cov.shape}")
    if np.abs(np.linalg.eigvals(f)).max() >= 1:
        raise ValueError("update has spectral radius >= 1: no stationary distribution")
    lagged = f @ np.linalg.solve(np.eye(len(f)) - f, cov)
    return 1.0 + 2.0 * np.diag(lagged) / np.diag(cov)


def circuit_drift(precision, irreversible: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(B, sigma^2): a linear circuit tau dr = -B (r - m) dt + sigma sqrt(2 tau) dW whose
    stationary distribution is N(m, H^-1), with the Langevin circuit's noise variance
    sigma_i^2 = 1 / H_ii: B = Sigma^1/2 (I + Q) Sigma^1/2 H, with Q = 0 (reversible: B has a
    unit diagonal, W = I - B a zero one, as ``circuits.recurrent.RecurrentCircuit`` requires)
    or the optimal antisymmetric Q for the whitened precision Sigma^1/2 H Sigma^1/2
    (``optimal_irreversible_drift``: every eigenvalue of B is then 1, per tau; B's diagonal is
    no longer 1, so that circuit has self-couplings). Units: B per tau; sigma in latent units."""
    h = _precision(precision)
    noise_variance = 1.0 / np.diag(h)
    root = np.sqrt(noise_variance)
    if not irreversible:
        return noise_variance[:, None] * h, noise_variance
    whitened_drift, _ = optimal_irreversible_drift(root[:, None] * h * root[None, :])
    return root[:, None] * whitened_drift / root[None, :], noise_variance


def euler_update(drift, noise_variance, step: float) -> tuple[np.ndarray, np.ndarray]:
    """(F, noise covariance) of one Euler-Maruyama step of dt = ``step`` tau of
    tau dr = -B r dt + sigma sqrt(2 tau) dW: F = I - step B, noise covariance diag(2 step sigma^2)
    (as ``circuits.recurrent.RecurrentCircuit`` simulates)."""
    if not 0 < step <= 0.2:
        raise ValueError(f"step (dt / tau) must be in (0, 0.2] for an accurate Euler scheme, got {step!r}")
    b = np.asarray(drift, dtype=float)
    return np.eye(len(b)) - step * b, np.diag(2 * step * np.asarray(noise_variance, dtype=float))
