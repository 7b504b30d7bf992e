"""Stochastic recurrent rate circuits (JAX, Euler-Maruyama with ``lax.scan``).

Linear variant (state r, one neuron per latent):
    tau dr = (-r + W r + M x + b) dt + sigma sqrt(2 tau) dB
Linear E/I variant (``"linear-ei"``): the same linear dynamics with K excitatory cells, whose
    rates are the responses, and n_inhibitory inhibitory cells, under Dale's law (columns of
    excitatory cells >= 0, of inhibitory cells <= 0): the balanced linear networks in which
    Hennequin, Aitchison & Lengyel (2014) studied fast sampling. Every closed form of the
    linear variant holds for the whole state; the responses are its excitatory block.
Supralinear E/I variant (state u, the membrane potential; rates rho(u) = k [u]_+^n):
    tau_i du_i = (-u_i + sum_j W_ij rho(u_j) + (M x + b)_i) dt + sigma_i sqrt(2 tau_i) dB_i
    with Dale's law (columns of excitatory cells >= 0, of inhibitory cells <= 0): the
    stabilised supralinear network of Ahmadian, Rubin & Miller (2013) and Hennequin,
    Ahmadian, Rubin, Lengyel & Miller (2018). Responses are the excitatory potentials.

Units: time in seconds (tau, dt), rates and potentials in the latent units of the task.
With W = 0, sigma is the stationary sd of an isolated neuron, so sigma has the same
meaning as the noise sd of a feed-forward neuron.

Documented choices
------------------
- No autapses: W has a zero diagonal, so the leak -r (time constant tau, fixed) is each
  neuron's only self-interaction. In continuous time the stationary distribution depends
  on (W - I) and sigma^2 only through their ratio (scale both by a and nothing changes but
  the speed), so a reliability cost on sigma alone could be dodged by ever faster,
  noisier dynamics, up to the Euler stability edge. Pinning diag(W - I) = -1 removes that
  direction, and loses nothing: the Langevin sampler of N(mu, H^-1),
  W = I - diag(sigma^2) H with sigma_i^2 = 1 / H_ii, has a zero diagonal.
- Euler-Maruyama with step dt (default 1 ms, tau = 20 ms); the stationary covariance of
  the discrete-time process (discrete Lyapunov equation) is the one simulated and the one
  used in training, so the O(dt / tau) discretisation bias is trained away, not ignored.
- Divergence: a linear circuit whose Euler update matrix has spectral radius >= 1 is
  refused with a ValueError that names the radius.
- Synaptic noise (``noise_site``, linear variant): the input weights are random,
  N(M_ij, S_ij^2), drawn once per trial and held through it (Malkin, O'Donnell,
  Houghton & Aitchison 2024, one weight sample per trial), so a trial's drive is
  N(M x + b, diag(sum_j S_ij^2 x_j^2)) and its stationary distribution is centred on that
  drive's fixed point. Across trials the response stays exactly Gaussian:
  Cov(r | x) = Sigma + G diag(sum_j S_ij^2 x_j^2) G^T with G = (I - W)^-1 and Sigma the
  neurons' stationary covariance (0 with ``"synapses"``, whose neurons have no noise of their
  own, so a trial is deterministic once its weights are drawn). The recurrent synapses stay
  deterministic, because Gaussian recurrent weights drawn per trial make the circuit
  ill-posed: every sigma > 0 gives each trial a positive probability of an unstable system
  (an eigenvalue of W with real part >= 1), and the stationary response (I - W)^-1 h has no
  finite mean. With two neurons, r_1 = (h_1 + W_12 h_2) / (1 - W_12 W_21), and the product
  of two Gaussians has a positive, continuous density at 1, so E|r_1| diverges (as
  E|1 / u| does for any u with a positive density at 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from circuits._validation import count, positive
from circuits.feedforward import WEIGHT_DRAWS, NoiseSite

__all__ = ["RecurrentCircuit", "VARIANTS", "LINEAR_VARIANTS"]

VARIANTS = ("linear", "linear-ei", "supralinear")
#: Variants whose dynamics are linear (closed-form stationary distribution).
LINEAR_VARIANTS = ("linear", "linear-ei")
#: Where a simulated trial starts (``RecurrentCircuit.simulate``).
INITIAL_STATES = ("rest", "stationary", "spontaneous")


@dataclass(frozen=True)
class RecurrentCircuit(NoiseSite):
    """Recurrent stochastic rate circuit (hyperparameters only; see module docstring).

    Parameters
    ----------
    n_input : D, input dimensions.
    n_output : K, representation neurons (the excitatory cells of an E/I variant).
    variant : ``"linear"``, ``"linear-ei"`` or ``"supralinear"``.
    n_inhibitory : inhibitory cells (E/I variants only; >= 1 for ``"linear-ei"``).
    tau, tau_inhibitory : membrane time constants, seconds.
    dt : Euler-Maruyama step, seconds (dt / tau <= 0.2).
    exponent, gain : n and k of the rectified power-law rate k [u]_+^n (supralinear).
    noise_site : ``"neurons"``, ``"synapses"`` (the input synapses) or ``"both"`` (module
        docstring; the last two for the linear variant).
    """

    n_input: int
    n_output: int
    variant: str = "linear"
    n_inhibitory: int = 0
    tau: float = 0.02
    tau_inhibitory: float = 0.01
    dt: float = 0.001
    exponent: float = 2.0
    gain: float = 0.3
    noise_site: str = "neurons"

    def __post_init__(self):
        count("n_input", self.n_input, 1)
        count("n_output", self.n_output, 1)
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")
        count("n_inhibitory", self.n_inhibitory, 0)
        if self.variant == "linear" and self.n_inhibitory:
            raise ValueError("n_inhibitory is for the E/I variants only")
        if self.variant == "linear-ei" and not self.n_inhibitory:
            raise ValueError("n_inhibitory must be >= 1 for the linear E/I variant")
        for name in ("tau", "tau_inhibitory", "dt", "exponent", "gain"):
            positive(name, getattr(self, name))
        if self.dt > 0.2 * min(self.tau, self.tau_inhibitory):
            raise ValueError(f"dt must be <= 0.2 * tau for an accurate Euler scheme, got dt = {self.dt} s")
        self._check_noise_site()
        if self.has_synaptic_noise and self.variant != "linear":
            raise ValueError(f"noise_site (--noise-site) {self.noise_site!r} is built for the linear variant only, "
                             f"not {self.variant!r}")

    @property
    def is_linear(self) -> bool:
        """Whether the dynamics are linear (``LINEAR_VARIANTS``): closed forms hold."""
        return self.variant in LINEAR_VARIANTS

    @property
    def n_units(self) -> int:
        return self.n_output + self.n_inhibitory

    @property
    def time_constants(self) -> np.ndarray:
        """tau of every unit, seconds, (n_units,)."""
        return np.concatenate([np.full(self.n_output, self.tau), np.full(self.n_inhibitory, self.tau_inhibitory)])

    @property
    def has_correlated_noise(self) -> bool:
        return True

    def init(self, key, noise_std: float = 0.5, weight_scale: float = 1.0) -> dict:
        """Initial parameters: random input weights, no recurrence (W = 0); each neuron's noise
        sd ``noise_std`` and each input synapse's noise_std / sqrt(fan-in)."""
        positive("noise_std", noise_std)
        n = self.n_units
        params = {
            "input_weights": weight_scale * jax.random.normal(key, (n, self.n_input)) / jnp.sqrt(self.n_input),
            "input_bias": jnp.zeros(n),
            "recurrent_weights": jnp.zeros((n, n)),
        }
        if self.has_neuron_noise:
            params["log_noise_std"] = jnp.full(n, jnp.log(noise_std))
        if self.has_synaptic_noise:
            params["input_log_weight_std"] = jnp.full((n, self.n_input), jnp.log(noise_std / jnp.sqrt(self.n_input)))
        if self.variant == "supralinear":
            params["input_bias"] = jnp.full(n, 1.0)
        if self.variant == "linear-ei":
            # Dale's law acts on |raw|, whose gradient vanishes at 0: start from small magnitudes.
            raw = jnp.abs(jax.random.normal(jax.random.fold_in(key, 1), (n, n)))
            params["recurrent_weights"] = self.RECURRENT_INIT_SCALE * raw / n
        return params

    #: Scale of the initial recurrent weights of the linear E/I variant: each cell's summed
    #: |weight| starts near 0.8 times this (E[|N(0, 1)|] = 0.8), weak next to its leak of 1.
    RECURRENT_INIT_SCALE = 0.1

    # -- structure -----------------------------------------------------------------------
    def recurrent_matrix(self, params):
        """W with a zero diagonal (and Dale's-law signs in the E/I variants)."""
        raw = params["recurrent_weights"] * (1.0 - jnp.eye(self.n_units))
        if self.variant == "linear":
            return raw
        signs = jnp.concatenate([jnp.ones(self.n_output), -jnp.ones(self.n_inhibitory)])
        return jnp.abs(raw) * signs[None, :]

    def euler_matrix(self, params):
        """F = I + dt diag(1/tau) (W - I): one noiseless Euler step of the linear circuit."""
        step = self.dt / jnp.asarray(self.time_constants)
        return jnp.eye(self.n_units) + step[:, None] * (self.recurrent_matrix(params) - jnp.eye(self.n_units))

    def spectral_radius(self, params) -> float:
        """Spectral radius of the Euler update matrix (linear variants); < 1 means stable."""
        return float(np.max(np.abs(np.linalg.eigvals(np.asarray(self.euler_matrix(params), dtype=float)))))

    def check_stable(self, params) -> None:
        """Raise ValueError if the linear dynamics diverge."""
        if not self.is_linear:
            return
        radius = self.spectral_radius(params)
        if not radius < 1.0:
            raise ValueError(f"recurrent dynamics diverge: the spectral radius of the Euler update "
                             f"matrix is {radius:.4f} (must be < 1)")

    def noise_std(self, params):
        """Each neuron's own noise sd (stationary sd of an isolated neuron; 0 without neuron noise)."""
        if not self.has_neuron_noise:
            return jnp.zeros(self.n_units)
        return jnp.exp(params["log_noise_std"])

    def synapse_noise_std(self, params) -> list:
        """The sd of every noisy input synapse, [(units, D)] ([] without synaptic noise)."""
        return [jnp.exp(params["input_log_weight_std"])] if self.has_synaptic_noise else []

    def synaptic_drive_variance(self, params, x):
        """Var of each unit's drive across trials from its input synapses, sum_j S_ij^2 x_j^2, (n, units)."""
        if not self.has_synaptic_noise:
            return jnp.zeros((x.shape[0], self.n_units))
        return x**2 @ self.synapse_noise_std(params)[0].T ** 2

    def _noise_scale(self, params):
        """Per-step noise sd: sigma sqrt(2 dt / tau)."""
        return self.noise_std(params) * jnp.sqrt(2.0 * self.dt / jnp.asarray(self.time_constants))

    def input_drive(self, params, x):
        return x @ params["input_weights"].T + params["input_bias"]

    def rates(self, state):
        """Firing rates from the state (identity for the linear variants)."""
        if self.is_linear:
            return state
        return self.gain * jnp.maximum(state, 0.0) ** self.exponent

    # -- linear-variant closed forms ------------------------------------------------------
    def fixed_point(self, params, x):
        """Deterministic fixed point (I - W)^-1 (M x + b) of a linear circuit, every unit (n, units);
        the responses' mean is its first K columns (``response_mean``)."""
        return self.fixed_point_of_drive(params, self.input_drive(params, x))

    def response_mean(self, params, x):
        """Mean of the stationary responses of a linear circuit, (n, K): the fixed point's
        representation (excitatory) cells."""
        return self.fixed_point(params, x)[..., : self.n_output]

    def fixed_point_of_drive(self, params, drive):
        """(I - W)^-1 d for every drive d, (..., units): the linear circuit's fixed point."""
        system = jnp.eye(self.n_units) - self.recurrent_matrix(params)
        flat = drive.reshape(-1, self.n_units)
        return jnp.linalg.solve(system, flat.T).T.reshape(drive.shape)

    #: Squarings of the doubling solver: it sums F^k Q F^kT for k < 2^DOUBLINGS; the tail left
    #: out is below rho^(2^32) relative, under 1e-15 for any spectral radius rho < 1 - 1e-8.
    DOUBLINGS = 32
    #: Largest circuit whose ``"auto"`` stationary covariance is solved by ``"kron"``: its
    #: (n^2 x n^2) system costs O(n^6); at n = 24 the solve took 4.5 ms against 0.14 ms by
    #: doubling, and a training step with its gradient 47 ms against 29 ms (2026-12-06, 2 cores).
    KRON_MAX_UNITS = 8

    def stationary_covariance(self, params, solver: str = "auto"):
        """Stationary covariance of the discrete-time linear circuit, (K, K).

        Solves Sigma = F Sigma F^T + Q with Q = diag(2 sigma^2 dt / tau).
        ``solver="kron"``: by vectorisation, (I - F kron F) vec(Sigma) = vec(Q): exact, but
        O(K^6). ``solver="doubling"``: Smith's doubling, S <- S + A S A^T, A <- A^2 from
        S = Q, A = F, i.e. the series sum_k F^k Q F^kT in ``DOUBLINGS`` matrix squarings:
        O(K^3) per squaring, used where the covariance is evaluated thousands of times (the
        closed-form optimum). ``"auto"``: kron up to ``KRON_MAX_UNITS`` units, doubling above.
        An unstable F (spectral radius >= 1) gives non-finite values.
        """
        if not self.is_linear:
            raise ValueError("the stationary covariance is known in closed form for the linear variants only")
        F = self.euler_matrix(params)
        n = self.n_units
        if solver == "auto":
            solver = "kron" if n <= self.KRON_MAX_UNITS else "doubling"
        Q = jnp.diag(self._noise_scale(params) ** 2)
        if solver == "kron":
            cov = jnp.linalg.solve(jnp.eye(n * n) - jnp.kron(F, F), Q.reshape(-1)).reshape(n, n)
        elif solver == "doubling":
            def square(carry, _):
                total, power = carry
                return (total + power @ total @ power.T, power @ power), None

            (cov, _), _ = jax.lax.scan(square, (Q, F), None, length=self.DOUBLINGS)
        else:
            raise ValueError(f"solver must be 'kron' or 'doubling', got {solver!r}")
        return 0.5 * (cov + cov.T)

    def response_covariance(self, params, x):
        """Cov(r | x) of the stationary responses, (n, K, K) (linear variant: input-independent
        without synaptic noise; with it, plus G diag(sum_j S_ij^2 x_j^2) G^T, G = (I - W)^-1)."""
        cov = self.stationary_covariance(params)[: self.n_output, : self.n_output]
        cov = jnp.broadcast_to(cov, (x.shape[0],) + cov.shape)
        if not self.has_synaptic_noise:
            return cov
        fixed_point_map = jnp.linalg.inv(jnp.eye(self.n_units) - self.recurrent_matrix(params))[: self.n_output]
        return cov + jnp.einsum("ku,nu,lu->nkl", fixed_point_map, self.synaptic_drive_variance(params, x),
                                fixed_point_map)

    def noise_sources(self, params, x) -> list:
        """The sd of every independent noise source, each (n, ·): the neurons (if they have
        noise of their own), then the input synapses."""
        sources = [jnp.broadcast_to(self.noise_std(params), (x.shape[0], self.n_units))] if self.has_neuron_noise \
            else []
        return sources + [jnp.broadcast_to(std, (x.shape[0], *std.shape)) for std in self.synapse_noise_std(params)]

    # -- simulation ----------------------------------------------------------------------
    #: Noise is drawn for this many floats at a time (a block of steps), not step by step:
    #: one large draw per block costs far less than one small draw per step.
    NOISE_BLOCK_FLOATS = 1 << 16

    def _update(self, params, drive):
        """The Euler-Maruyama step as a function (state, eps) -> state, invariants hoisted.

        Linear variant: state @ F^T + dt/tau * drive + noise * eps, one matrix product per step
        (F = I + dt diag(1/tau)(W - I)); supralinear: the rates pass through k [u]_+^n first.
        """
        W = self.recurrent_matrix(params)
        step = self.dt / jnp.asarray(self.time_constants)
        noise = self._noise_scale(params)
        offset = step * drive
        if self.is_linear:
            update_T = self.euler_matrix(params).T
            return lambda state, eps: state @ update_T + offset + noise * eps
        coupling_T = W.T * step[None, :]
        return lambda state, eps: (1.0 - step) * state + self.rates(state) @ coupling_T + offset + noise * eps

    def simulate(self, params, x, key, n_trials: int, n_steps: int, initial: str = "rest",
                 record_from: int | None = None, weight_draws: str = "trial"):
        """Run n_trials independent trials per input for n_steps Euler-Maruyama steps.

        Parameters
        ----------
        x : (n, D) inputs, constant over the trial.
        initial : ``"rest"`` (state 0), ``"stationary"`` (a draw from the exact stationary
            distribution given x; linear variant only, so that every recorded step is a
            stationary sample) or ``"spontaneous"`` (a draw from the stationary distribution
            given a blank input, x = 0: the circuit in spontaneous activity when the stimulus
            comes on at step 0; linear variant only).
        record_from : first step to record; None records only the final state.
        weight_draws : noisy input synapses drawn once per trial (``"trial"``) or once for
            the whole call, the same weights in every trial (``"minibatch"``).

        Returns
        -------
        states : (n, n_trials, K) if ``record_from`` is None, else (n, n_trials, T, K) with
            T = n_steps - record_from; only the representation neurons are returned.
        """
        if initial not in INITIAL_STATES:
            raise ValueError(f"initial must be one of {INITIAL_STATES}, got {initial!r}")
        if initial != "rest" and not self.is_linear:
            raise ValueError(f"initial {initial!r} needs a linear variant's closed-form stationary distribution")
        if weight_draws not in WEIGHT_DRAWS:
            raise ValueError(f"weight_draws must be one of {WEIGHT_DRAWS}, got {weight_draws!r}")
        return _simulate(self, params, x, key, n_trials, n_steps, initial, record_from, weight_draws)

    def _simulate(self, params, x, key, n_trials, n_steps, initial, record_from, weight_draws="trial"):
        n = x.shape[0]
        key_init, key_noise = jax.random.split(key)
        drive = self.input_drive(params, x)[:, None, :]
        if self.has_synaptic_noise:  # one draw of the input weights per trial, held through it
            key_init, key_weights = jax.random.split(key_init)
            if weight_draws == "minibatch":  # one draw for every input and trial
                synapse_sd = self.synapse_noise_std(params)[0]
                weights = params["input_weights"] + synapse_sd * jax.random.normal(key_weights, synapse_sd.shape)
                drive = (x @ weights.T + params["input_bias"])[:, None, :]
            else:
                drive = drive + jnp.sqrt(self.synaptic_drive_variance(params, x))[:, None, :] * jax.random.normal(
                    key_weights, (n, n_trials, self.n_units))
        if initial in ("stationary", "spontaneous"):
            # The Cholesky factor is traced before the centre: in the other order XLA's results
            # differ in the last bits, and neuron-noise runs would no longer reproduce earlier ones.
            if self.has_neuron_noise:
                chol = jnp.linalg.cholesky(self.stationary_covariance(params))
            if initial == "stationary" and self.has_synaptic_noise:  # the fixed point of each trial's drive
                centre = self.fixed_point_of_drive(params, drive)
            else:
                centre = self.fixed_point(params, x if initial == "stationary" else jnp.zeros_like(x))[:, None, :]
            if self.has_neuron_noise:
                start = centre + jax.random.normal(key_init, (n, n_trials, self.n_units)) @ chol.T
            else:
                start = jnp.broadcast_to(centre, (n, n_trials, self.n_units))
        else:
            start = jnp.zeros((n, n_trials, self.n_units))
        update = self._update(params, drive)
        block = int(max(1, min(n_steps, self.NOISE_BLOCK_FLOATS // start.size)))
        n_blocks = -(-n_steps // block)
        record = record_from is not None

        def run_block(state, inputs):
            block_key, first_step = inputs
            noise = jax.random.normal(block_key, (block, *start.shape))

            def one_step(state, step_inputs):
                eps, index = step_inputs
                new = jnp.where(index < n_steps, update(state, eps), state)  # the last block may overrun
                return new, (new[..., : self.n_output] if record else None)

            return jax.lax.scan(one_step, state, (noise, first_step + jnp.arange(block)))

        final, trajectory = jax.lax.scan(run_block, start,
                                         (jax.random.split(key_noise, n_blocks), jnp.arange(n_blocks) * block))
        if not record:
            return final[..., : self.n_output]
        trajectory = trajectory.reshape(n_blocks * block, *trajectory.shape[2:])[record_from:n_steps]
        return jnp.moveaxis(trajectory, 0, 2)

    def sample(self, params, x, key, n_samples: int, burn_in_steps: int = 1000) -> dict:
        """Independent responses: the state of each of n_samples trials after burn-in from rest.

        Raises ValueError if the dynamics diverge (naming the spectral radius).
        """
        self.check_stable(params)
        states = self.simulate(params, x, key, n_samples, burn_in_steps)
        if not bool(jnp.all(jnp.isfinite(states))):
            raise ValueError("recurrent dynamics diverged during simulation: "
                             f"{self._divergence_report(params, x)}")
        return {"responses": states}

    def _divergence_report(self, params, x) -> str:
        if self.is_linear:
            return f"spectral radius of the Euler update matrix {self.spectral_radius(params):.4f}"
        # Supralinear: linearise at the input drive (a proxy for the operating point).
        u = np.asarray(self.input_drive(params, x), dtype=float).mean(0)
        slope = self.gain * self.exponent * np.maximum(u, 0.0) ** (self.exponent - 1)
        jac = np.eye(self.n_units) + (self.dt / self.time_constants)[:, None] * (
            np.asarray(self.recurrent_matrix(params)) * slope[None, :] - np.eye(self.n_units))
        radius = np.max(np.abs(np.linalg.eigvals(jac)))
        return f"spectral radius of the linearised Euler update at the input drive {radius:.4f}"


# Compiled once per circuit (hashable, frozen), trial and step count, not once per call:
# params, inputs and key are arguments, so every seed and stimulus set reuses the program.
_simulate = jax.jit(RecurrentCircuit._simulate, static_argnums=(0, 4, 5, 6, 7, 8))
