"""Spiking circuits with escape noise, simulated and trained in JAX.

Neuron model (discrete time, step dt). Each neuron is leaky integrate-and-fire,

    v' = v + (dt / tau_m) (-v + I_i(x) + sum_j W_ij y_j),      I_i(x) = sum_d M_id x_d + b_i,

with a dimensionless potential (threshold theta = 1, rest and reset 0). Its threshold is
soft: in each step it fires with probability p = 1 - exp(-rho(v') dt), escape rate

    rho(v) = rho_0 exp((v - theta) / delta_i)

(escape noise: Gerstner & Kistler 2002, sec. 5.3; Jolivet et al. 2006 fit this form to
cortical neurons). delta_i, the escape-noise width (threshold units), is the neuron's noise
source and its reliability: delta -> 0 is a deterministic threshold and regular firing, a
large delta an irregular, Poisson-like neuron. After a spike v' = 0. In a recurrent circuit
(``recurrent=True``), y_j is neuron j's synaptic trace, y' = y exp(-dt / tau_s) + s_j (s_j = 1
in a step with a spike), so a spike reaches the other neurons from the next step on.

Readout (``circuits.spiking_trials``): the spike counts of a window after a burn-in from rest,
read out linearly, z = c + R n / (T rho_0), one sample per trial.

Parameters are a dict of arrays: ``input_weights`` M (N, D), ``input_bias`` b (N),
``recurrent_weights`` W (N, N; recurrent circuits only, no autapses), ``log_escape_width``
log delta (N), ``readout_weights`` R (K, N), ``readout_bias`` c (K).

The log-probability of a trial's spike train given the parameters is exact and
differentiable (the state is a deterministic function of the parameters and the spikes
so far), which is what the score-function gradient of ``circuits.spiking_learning`` uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from circuits._validation import count, positive
from circuits.spiking_trials import TrialSpikingCircuit, brian2_window_counts

__all__ = ["EscapeNoiseCircuit", "simulate_in_brian2"]

#: Bounds on (v - theta) / delta: keep exp() finite in float32 (p = 1 above, p ~ 1e-23 / step below).
_EXPONENT_BOUNDS = (-50.0, 30.0)


@dataclass(frozen=True)
class EscapeNoiseCircuit(TrialSpikingCircuit):
    """A single-layer (``recurrent=False``) or recurrent circuit of escape-noise neurons.

    Parameters
    ----------
    n_input, n_neurons, n_latent, recurrent, tau_membrane, tau_synapse, dt, burn_in, window :
        as ``circuits.spiking_trials.TrialSpikingCircuit`` (tau_synapse: the recurrent
        synaptic trace's decay).
    rate_at_threshold : rho_0, the escape rate at v = theta (spikes/s); also the readout's
        reference rate.
    """

    rate_at_threshold: float = 100.0

    def __post_init__(self):
        super().__post_init__()
        positive("rate_at_threshold", self.rate_at_threshold)

    @property
    def readout_rate(self) -> float:
        return self.rate_at_threshold

    @property
    def events_per_step(self) -> int:
        """The random events of a step: one spike or none per neuron."""
        return self.n_neurons

    def init(self, key, escape_width: float = 0.3, rate: float = 20.0) -> dict:
        """Initial parameters: input weights N(0, 0.3^2 / D), biases at threshold, escape
        width ``escape_width`` (threshold units), weak recurrent weights N(0, 0.1^2 / N),
        readout weights N(0, (rho_0 / rate)^2 / N) (z of order 1 at ``rate`` spikes/s),
        readout bias 0."""
        positive("escape_width", escape_width)
        positive("rate", rate)
        k_in, k_rec, k_out = jax.random.split(key, 3)
        n, d = self.n_neurons, self.n_input
        params = {
            "input_weights": 0.3 * jax.random.normal(k_in, (n, d)) / np.sqrt(d),
            "input_bias": jnp.ones(n),
            "log_escape_width": jnp.full(n, np.log(escape_width)),
            "readout_weights": self.rate_at_threshold / rate * jax.random.normal(k_out, (self.n_latent, n)) / n**0.5,
            "readout_bias": jnp.zeros(self.n_latent),
        }
        if self.recurrent:
            params["recurrent_weights"] = 0.1 * jax.random.normal(k_rec, (n, n)) / np.sqrt(n) * (1.0 - jnp.eye(n))
        return params

    def escape_width(self, params):
        """delta, (N,) threshold units."""
        return jnp.exp(params["log_escape_width"])

    def noise_scales(self, params):
        """The noise sources' scales, charged by the reliability cost: the escape widths."""
        return self.escape_width(params)

    def drive(self, params, x):
        """The feed-forward input I(x) = M x + b, (n, N) threshold units."""
        return x @ params["input_weights"].T + params["input_bias"]

    def recurrent_matrix(self, params):
        if not self.recurrent:
            return None
        return params["recurrent_weights"] * (1.0 - jnp.eye(self.n_neurons))

    def _run(self, params, x, per_step, spikes_of, record: bool):
        """The dynamics over all steps for inputs x (n, D). ``per_step`` (steps, n, trials, N)
        is scanned over; ``spikes_of(value, hazard_dt)`` gives each step's spikes (0/1) from
        its value and the step's hazard x dt. Returns (window counts, log-probability of the
        spike trains, spike trains or None)."""
        drive = self.drive(params, x)
        width = self.escape_width(params)
        recurrent = self.recurrent_matrix(params)
        leak = self.dt / self.tau_membrane
        decay = np.exp(-self.dt / self.tau_synapse)
        low, high = _EXPONENT_BOUNDS
        burn_in = self.burn_in_steps

        def one_step(carry, inputs):
            (v, y), counts, log_prob = carry
            value, index = inputs
            total = drive[:, None, :] if recurrent is None else drive[:, None, :] + y @ recurrent.T
            v = v + leak * (total - v)
            hazard_dt = self.rate_at_threshold * self.dt * jnp.exp(jnp.clip((v - 1.0) / width, low, high))
            spikes = jax.lax.stop_gradient(spikes_of(value, hazard_dt))
            # log p = log(1 - exp(-hazard dt)) for a spike, -hazard dt for none; where, not a
            # product, so that a zero probability never meets a zero count.
            log_p = jnp.where(spikes > 0, jnp.log(-jnp.expm1(-hazard_dt)), -hazard_dt)
            carry = ((v * (1.0 - spikes), y * decay + spikes), counts + spikes * (index >= burn_in),
                     log_prob + jnp.sum(log_p, axis=-1))
            return carry, (spikes if record else None)

        zeros = jnp.zeros(per_step.shape[1:])
        (_, counts, log_prob), spikes = jax.lax.scan(
            one_step, ((zeros, zeros), zeros, jnp.zeros(zeros.shape[:2])), (per_step, jnp.arange(per_step.shape[0])))
        return counts, log_prob, spikes

    def _sample(self, params, x, uniforms, record: bool):
        # A spike when the uniform falls below p = 1 - exp(-hazard dt).
        return self._run(params, x, uniforms, lambda u, hazard_dt: (u < -jnp.expm1(-hazard_dt)).astype(u.dtype),
                         record)

    def _replay(self, params, x, spikes):
        counts, log_prob, _ = self._run(params, x, spikes, lambda s, hazard_dt: s, False)
        return log_prob, counts


def simulate_in_brian2(circuit: EscapeNoiseCircuit, params, x, n_trials: int, seed: int,
                       target: str = "numpy") -> np.ndarray:
    """Re-simulate the circuit in Brian2: the same equations, parameters and step, one
    network holding every (input, trial) copy. Returns the window counts (n, n_trials, N).

    The correspondence, step by step: Brian2 integrates v by forward Euler from the previous
    step's synaptic variable g = W y; then it draws the escape-noise threshold on the new v,
    decays g by exp(-dt / tau_s) (slot ``before_synapses``), delivers the step's spikes
    (g += W_ij, seen from the next step on) and resets v to 0, in that order: the update of
    ``EscapeNoiseCircuit.simulate``. (Before 2026-12-07 g decayed by forward Euler,
    1 - dt / tau_s.) The random streams differ (Brian2 draws from NumPy's), so the two agree in
    distribution, not spike for spike.
    """
    from circuits.brian_tools import brian_session

    n_trials = count("n_trials", n_trials, 1)
    x = np.asarray(x, dtype=float)
    n_inputs, n = x.shape[0], circuit.n_neurons
    drive = np.asarray(circuit.drive(params, x), dtype=float)  # (n_inputs, N)
    copies = n_inputs * n_trials
    low, high = _EXPONENT_BOUNDS
    with brian_session(target, seed, name=f"escape_noise_N{n}") as brian2:
        second = brian2.second
        equations = "dv/dt = (-v + drive + g) / tau_m : 1\ng : 1\ndrive : 1 (constant)\nwidth : 1 (constant)"
        neurons = brian2.NeuronGroup(
            copies * n, equations, method="euler", dt=circuit.dt * second, name="escape_noise_neurons",
            threshold=f"rand() < 1 - exp(-rho0 * dt * exp(clip((v - 1) / width, {low}, {high})))", reset="v = 0",
            namespace={"tau_m": circuit.tau_membrane * second, "rho0": circuit.rate_at_threshold / second})
        # The trace decays exactly, after the threshold and before this step's spikes arrive.
        neurons.run_regularly(f"g = g * {float(np.exp(-circuit.dt / circuit.tau_synapse))!r}",
                              when="before_synapses", name="synaptic_decay")
        neurons.drive = np.repeat(drive, n_trials, axis=0).reshape(-1)  # index (input * trials + trial) * N + i
        neurons.width = np.tile(np.asarray(circuit.escape_width(params), dtype=float), copies)
        objects = [neurons]
        if circuit.recurrent:
            weights = np.asarray(circuit.recurrent_matrix(params), dtype=float)
            post, pre = np.nonzero(weights)
            offsets = np.repeat(np.arange(copies) * n, len(pre))
            synapses = brian2.Synapses(neurons, neurons, "w : 1 (constant)", on_pre="g_post += w",
                                       dt=circuit.dt * second, name="recurrent_synapses")
            synapses.connect(i=np.tile(pre, copies) + offsets, j=np.tile(post, copies) + offsets)
            synapses.w = np.tile(weights[post, pre], copies)
            objects.append(synapses)
        return brian2_window_counts(brian2, circuit, neurons, objects, n_inputs, n_trials)
