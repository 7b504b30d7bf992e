"""Stochastic stabilised supralinear network (SSN) with Ornstein-Uhlenbeck input noise (JAX).

The E/I circuit of Echeveste, Aitchison, Hennequin & Lengyel (2020), after Ahmadian, Rubin &
Miller (2013) and Hennequin, Ahmadian, Rubin, Lengyel & Miller (2018):

    tau_i du_i/dt   = -u_i + sum_j W_ij rho(u_j) + h_i(t) + eta_i(t)
    rho(u)          = k [u]_+^n                        (firing rate, Hz; u in mV above threshold)
    tau_eta deta_i  = -eta_i dt + sigma_i sqrt(2 tau_eta) dB_i   (OU noise, stationary sd sigma_i)
    h(t)            = M x(t) + g |x(t)| / sqrt(D) + b   (input, mV)

with Dale's law (W_ij >= 0 for an excitatory j, <= 0 for an inhibitory j), tau_E = 20 ms,
tau_I = 10 ms, k = 0.3 Hz/mV^n and n = 2 as in those papers. W is in mV s (a rate in Hz times
W is a potential in mV). The term g |x| is a non-specific drive that grows with the
input's contrast energy (its Euclidean norm): with a linear input alone the circuit could not
tell a strong stimulus from a weak one of opposite sign, and the SSN's contrast-dependent
dynamics come from a drive that grows with contrast (Hennequin et al. 2018). Integration:
Euler-Maruyama with step dt (default 0.5 ms).

The sample the circuit represents is read from the excitatory potentials through a fixed
affine map, z = (u_E - readout_offset) / readout_scale (both mV), so that the latent's zero
sits above the rate threshold where the network's nonlinearity acts; the map is a fixed
hyperparameter, not learned, so the network must shape its own fluctuations to the target.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from circuits._validation import count, positive

__all__ = ["StochasticSSN"]

#: Two-population SSN weights (mV s) of Hennequin et al. (2018): E<-E, E<-I, I<-E, I<-I magnitudes.
_HENNEQUIN_WEIGHTS = np.array([[1.25, 0.65], [1.2, 0.5]])


@dataclass(frozen=True)
class StochasticSSN:
    """Hyperparameters of a stochastic SSN (see the module docstring; units in brackets).

    n_input : D, input dimensions. n_excitatory : E cells, one per latent.
    n_inhibitory : I cells (default: as many as E cells).
    tau_excitatory, tau_inhibitory, tau_noise : time constants [s].
    dt : Euler-Maruyama step [s]. exponent, gain : n and k of rho(u) = k [u]_+^n [Hz/mV^n].
    readout_offset, readout_scale : z = (u_E - offset) / scale [mV].
    """

    n_input: int
    n_excitatory: int
    n_inhibitory: int | None = None
    tau_excitatory: float = 0.02
    tau_inhibitory: float = 0.01
    tau_noise: float = 0.02
    dt: float = 0.0005
    exponent: float = 2.0
    gain: float = 0.3
    readout_offset: float = 4.0
    readout_scale: float = 2.0

    def __post_init__(self):
        count("n_input", self.n_input, 1)
        count("n_excitatory", self.n_excitatory, 1)
        if self.n_inhibitory is None:
            object.__setattr__(self, "n_inhibitory", self.n_excitatory)
        count("n_inhibitory", self.n_inhibitory, 1)
        for name in ("tau_excitatory", "tau_inhibitory", "tau_noise", "dt", "exponent", "gain", "readout_scale"):
            positive(name, getattr(self, name))
        if not np.isfinite(self.readout_offset):
            raise ValueError(f"readout_offset must be finite (mV), got {self.readout_offset!r}")
        if self.dt > 0.1 * min(self.tau_excitatory, self.tau_inhibitory, self.tau_noise):
            raise ValueError(f"dt must be <= 0.1 * the shortest time constant, got dt = {self.dt} s")

    @property
    def n_units(self) -> int:
        return self.n_excitatory + self.n_inhibitory

    @property
    def time_constants(self) -> np.ndarray:
        """tau of every unit [s], E cells first, (n_units,)."""
        return np.concatenate([np.full(self.n_excitatory, self.tau_excitatory),
                               np.full(self.n_inhibitory, self.tau_inhibitory)])

    def init(self, key, noise_std: float = 1.0, weight_jitter: float = 0.1) -> dict:
        """Initial parameters: Hennequin et al.'s (2018) two-population weights shared out over the
        cells (so each population's total input is theirs), jittered; input weights random; OU
        noise sd ``noise_std`` mV on every cell; bias 2 mV (a low spontaneous rate)."""
        positive("noise_std", noise_std)
        key_w, key_m = jax.random.split(key)
        population = np.concatenate([np.zeros(self.n_excitatory, int), np.ones(self.n_inhibitory, int)])
        sizes = np.array([self.n_excitatory, self.n_inhibitory])
        magnitude = _HENNEQUIN_WEIGHTS[population][:, population] / sizes[population][None, :]
        jitter = jnp.exp(weight_jitter * jax.random.normal(key_w, magnitude.shape))
        return {
            "log_weights": jnp.log(jnp.asarray(magnitude)) + jnp.log(jitter),
            "input_weights": jax.random.normal(key_m, (self.n_units, self.n_input)) / np.sqrt(self.n_input),
            "contrast_weights": jnp.zeros(self.n_units),
            "input_bias": jnp.full(self.n_units, 2.0),
            "log_noise_std": jnp.full(self.n_units, jnp.log(noise_std)),
        }

    # -- structure -----------------------------------------------------------------------
    def weights(self, params):
        """W [mV s] with Dale's signs (columns of I cells negative) and no autapses."""
        signs = jnp.concatenate([jnp.ones(self.n_excitatory), -jnp.ones(self.n_inhibitory)])
        return jnp.exp(params["log_weights"]) * signs[None, :] * (1.0 - jnp.eye(self.n_units))

    def rates(self, u):
        """rho(u) = k [u]_+^n, Hz."""
        return self.gain * jnp.maximum(u, 0.0) ** self.exponent

    def noise_std(self, params):
        """Stationary sd of each cell's OU input noise, mV."""
        return jnp.exp(params["log_noise_std"])

    def input_drive(self, params, x):
        """h = M x + g |x| / sqrt(D) + b, mV, for inputs x (..., D)."""
        energy = jnp.sqrt(jnp.sum(x * x, axis=-1, keepdims=True) / self.n_input)
        return x @ params["input_weights"].T + energy * params["contrast_weights"] + params["input_bias"]

    def readout(self, u):
        """The latent sample z = (u_E - offset) / scale from potentials (..., n_units)."""
        return (u[..., : self.n_excitatory] - self.readout_offset) / self.readout_scale

    # -- noise: subclasses with correlated noise override these two --------------------
    def _noise_kick(self, params, noise_decay):
        """Per-step OU increment scale, (n_units,) mV: sd sqrt(2 dt / tau_noise)."""
        return self.noise_std(params) * jnp.sqrt(2.0 * noise_decay)

    @staticmethod
    def _kick(noise_kick, eps):
        return noise_kick * eps

    # -- simulation ----------------------------------------------------------------------
    def simulate(self, params, inputs, key, n_trials: int, record_every: int = 1, initial=None):
        """Euler-Maruyama run of n_trials trials per input time course.

        Parameters
        ----------
        inputs : (S, T, D) input x(t) at each of T steps (e.g. a ``simulations.protocols``
            Dataset's ``input``); ``constant_input`` builds it from a static (S, D) input.
        initial : optional (u, eta) state arrays (S, n_trials, n_units); default rest (0, 0).
        record_every : keep every k-th step.

        Returns
        -------
        dict with ``u`` (S, n_trials, T // record_every, n_units) potentials [mV], recorded
        after each kept step, and ``final`` = (u, eta) at the end.
        """
        inputs = jnp.asarray(inputs)
        if inputs.ndim != 3 or inputs.shape[-1] != self.n_input:
            raise ValueError(f"inputs must be (stimulus, step, {self.n_input}), got shape {inputs.shape}")
        n_trials = count("n_trials", n_trials, 1)
        record_every = count("record_every", record_every, 1)
        n_stimuli, n_steps = inputs.shape[:2]
        if n_steps % record_every:
            raise ValueError(f"the number of steps ({n_steps}) must be a multiple of record_every ({record_every})")
        shape = (n_stimuli, n_trials, self.n_units)
        if initial is None:
            initial = (jnp.zeros(shape), jnp.zeros(shape))
        W_T = self.weights(params).T
        step = self.dt / jnp.asarray(self.time_constants)
        noise_decay = self.dt / self.tau_noise
        noise_kick = self._noise_kick(params, noise_decay)
        drive = self.input_drive(params, inputs)  # (S, T, N)
        drive = jnp.moveaxis(drive, 1, 0).reshape(n_steps // record_every, record_every, n_stimuli, 1, self.n_units)
        keys = jax.random.split(key, n_steps // record_every)
        # All the noise at once, one key per recorded chunk: the same numbers as drawing each
        # chunk's inside the loop, in one vectorised call instead of one per Euler step (with
        # the noise set to zero a training step took a quarter of the time: the per-step
        # draws dominated it).
        noise = jax.vmap(lambda chunk_key: jax.random.normal(chunk_key, (record_every, *shape)))(keys)

        def one_step(state, step_inputs):
            u, eta = state
            h, eps = step_inputs
            u = u + step * (-u + self.rates(u) @ W_T + h + eta)
            eta = eta * (1.0 - noise_decay) + self._kick(noise_kick, eps)
            return (u, eta), None

        def chunk(state, chunk_inputs):
            state, _ = jax.lax.scan(one_step, state, chunk_inputs)
            return state, state[0]

        final, trajectory = jax.lax.scan(chunk, tuple(initial), (drive, noise))
        return {"u": jnp.moveaxis(trajectory, 0, 2), "final": final}

    @staticmethod
    def constant_input(x, n_steps: int):
        """(S, D) static inputs held for n_steps: (S, n_steps, D)."""
        x = jnp.asarray(x)
        return jnp.broadcast_to(x[:, None, :], (x.shape[0], count("n_steps", n_steps, 1), x.shape[1]))
