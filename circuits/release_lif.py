"""LIF neurons whose synapses release stochastically, simulated and trained in JAX.

Neuron model (discrete time, step dt; dimensionless potential, threshold 1, rest and reset 0):

    v' = v + (dt / tau_m) (-v + sum_d q_id x_d r_id + b_i + g_i),

and neuron i spikes in a step when v' >= 1 (a hard threshold: the neuron itself is
deterministic), after which v' = 0. The noise is in the synapses. Input synapse (i, d)
transmits its fibre's activity x_d with quantal amplitude q_id, and releases in each step
independently with probability p_id (r_id ~ Bernoulli(p_id)): its mean weight is p_id q_id
and its coefficient of variation per step sqrt((1 - p_id) / p_id). In a recurrent circuit
(``recurrent=True``) a spike of neuron j releases at synapse (i, j) with probability p_ij,
adding q_ij to the synaptic input g_i from the next step on, g' = g exp(-dt / tau_s) +
sum_j q_ij r_ij s_j (no autapses). Binomial release at a probability set per synapse is the
textbook account of synaptic variability (del Castillo & Katz 1954; Branco & Staras 2009).

Reliability. Each synapse's noise scale is its coefficient of variation,
cv = sqrt((1 - p) / p) = exp(-logit(p) / 2), on which the objective's reliability family
is charged (``noise_scales``): at a fixed mean weight, a reliable synapse (p -> 1, cv -> 0)
is expensive and a synapse that rarely releases is cheap, as raising the release
probability costs presynaptic energy (Harris, Jolivet & Attwell 2012; the cost families of
Malkin, O'Donnell, Houghton & Aitchison 2024).

Gradient (``circuits.spiking_learning``): the release events are discrete and their
probabilities carry the parameters p, so the release probabilities get the score function
of the releases, unbiased: given the releases, a trial does not depend on p. The hard
threshold has no derivative; the quanta q, the biases b and every path through a spike get
a surrogate gradient, the derivative of the fast sigmoid, 1 / (1 + beta |v - 1|)^2
(SuperSpike, Zenke & Ganguli 2018), with the reset left out of the backward pass (Zenke &
Vogels 2021). The surrogate is biased: the expected objective is piecewise constant in q
and b (a finite sum over release patterns of functions of spike counts), so no finite
difference can check it; it is a learning signal, not a derivative.

Parameters are a dict of arrays: ``input_quanta`` q (N, D), ``input_release_logit``
logit p (N, D), ``input_bias`` b (N), in a recurrent circuit ``recurrent_quanta`` (N, N)
and ``recurrent_release_logit`` (N, N) (post, pre; the diagonal unused), ``readout_weights``
R (K, N) and ``readout_bias`` c (K).
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from circuits._validation import count, positive
from circuits.spiking_trials import TrialSpikingCircuit, brian2_window_counts

__all__ = ["ReleaseLIFCircuit", "simulate_release_lif_in_brian2"]


def _spike(u, steepness):
    """H(u) forward; d/du = 1 / (1 + steepness |u|)^2 backward (the fast sigmoid's)."""
    soft = u / (1.0 + steepness * jnp.abs(u))
    return jax.lax.stop_gradient((u >= 0).astype(u.dtype) - soft) + soft


def _release_log_prob(releases, logit):
    """log p for a release, log(1 - p) for none, from the logit (stable at p near 0 or 1)."""
    return jnp.where(releases > 0, jax.nn.log_sigmoid(logit), jax.nn.log_sigmoid(-logit))


@dataclass(frozen=True)
class ReleaseLIFCircuit(TrialSpikingCircuit):
    """A single-layer (``recurrent=False``) or recurrent circuit of LIF neurons with
    stochastic release at every synapse (module docstring).

    Parameters
    ----------
    n_input, n_neurons, n_latent, recurrent, tau_membrane, tau_synapse, dt, burn_in, window :
        as ``circuits.spiking_trials.TrialSpikingCircuit``.
    reference_rate : r_0, the rate (spikes/s) the readout reads as one unit.
    surrogate_steepness : beta of the surrogate gradient (per threshold unit).
    """

    reference_rate: float = 100.0
    surrogate_steepness: float = 10.0

    def __post_init__(self):
        super().__post_init__()
        positive("reference_rate", self.reference_rate)
        positive("surrogate_steepness", self.surrogate_steepness)

    @property
    def readout_rate(self) -> float:
        return self.reference_rate

    @property
    def events_per_step(self) -> int:
        """The random events of a step: a release or none at every synapse (input synapses
        first, (N, D) row-major, then the recurrent ones off the diagonal, row-major)."""
        return self.n_neurons * (self.n_input + (self.n_neurons - 1 if self.recurrent else 0))

    def init(self, key, release_probability: float = 0.5, bias: float = 1.5, rate: float = 45.0) -> dict:
        """Initial parameters: every release probability ``release_probability``; quanta
        such that the mean input weights are N(0, 0.3^2 / D) and the mean recurrent weights
        N(0, 0.1^2 / N); biases ``bias`` (threshold units; 1.5 fires about 45 spikes/s
        without input); readout weights N(0, (r_0 / rate)^2 / N) (z of order 1 at ``rate``
        spikes/s), readout bias 0."""
        if not 0 < release_probability < 1:
            raise ValueError(f"release_probability must be in (0, 1), got {release_probability!r}")
        positive("rate", rate)
        k_in, k_rec, k_out = jax.random.split(key, 3)
        n, d = self.n_neurons, self.n_input
        logit = float(np.log(release_probability / (1.0 - release_probability)))
        params = {
            "input_quanta": 0.3 * jax.random.normal(k_in, (n, d)) / np.sqrt(d) / release_probability,
            "input_release_logit": jnp.full((n, d), logit),
            "input_bias": jnp.full(n, float(bias)),
            "readout_weights": self.reference_rate / rate * jax.random.normal(k_out, (self.n_latent, n)) / n**0.5,
            "readout_bias": jnp.zeros(self.n_latent),
        }
        if self.recurrent:
            off_diagonal = 1.0 - jnp.eye(n)
            params["recurrent_quanta"] = (0.1 * jax.random.normal(k_rec, (n, n)) / np.sqrt(n) / release_probability
                                          * off_diagonal)
            params["recurrent_release_logit"] = jnp.full((n, n), logit)
        return params

    def release_probability(self, params) -> dict:
        """p of every synapse: ``{"input": (N, D)}`` and, recurrent, ``"recurrent": (N, N)``."""
        out = {"input": jax.nn.sigmoid(params["input_release_logit"])}
        if self.recurrent:
            out["recurrent"] = jax.nn.sigmoid(params["recurrent_release_logit"])
        return out

    def mean_weights(self, params) -> dict:
        """p q of every synapse (threshold units per unit of presynaptic activity, or per spike)."""
        p = self.release_probability(params)
        out = {"input": p["input"] * params["input_quanta"]}
        if self.recurrent:
            out["recurrent"] = p["recurrent"] * self._recurrent_quanta(params)
        return out

    def noise_scales(self, params):
        """Each synapse's coefficient of variation sqrt((1 - p) / p), flattened (input
        synapses, then the recurrent ones off the diagonal): what the reliability cost charges."""
        scales = [jnp.exp(-0.5 * params["input_release_logit"]).reshape(-1)]
        if self.recurrent:
            scales.append(jnp.exp(-0.5 * params["recurrent_release_logit"])[self._off_diagonal()])
        return jnp.concatenate(scales)

    def drive(self, params, x):
        """The mean feed-forward input sum_d p_id q_id x_d + b_i, (n, N) threshold units."""
        return x @ self.mean_weights(params)["input"].T + params["input_bias"]

    def _recurrent_quanta(self, params):
        return params["recurrent_quanta"] * (1.0 - jnp.eye(self.n_neurons))

    def _off_diagonal(self):
        """(post, pre) indices of the recurrent synapses, row-major."""
        return np.nonzero(~np.eye(self.n_neurons, dtype=bool))

    def _run(self, params, x, per_step, releases_of, record: bool):
        """The dynamics over all steps for inputs x (n, D). ``per_step`` (steps, n, trials, E)
        is scanned over; ``releases_of(values, p)`` gives a step's releases (0/1) from its
        values and the release probabilities. Returns (window counts, log-probability of the
        releases that shaped the trial, log-probability of every release draw, spike trains
        or None)."""
        n_syn_in = self.n_neurons * self.n_input
        p_in = jax.nn.sigmoid(params["input_release_logit"])
        logit_in = params["input_release_logit"]
        quanta_in, bias = params["input_quanta"], params["input_bias"]
        if self.recurrent:
            post, pre = self._off_diagonal()
            logit_rec = params["recurrent_release_logit"][post, pre]
            p_rec = jax.nn.sigmoid(logit_rec)
            quanta_rec = params["recurrent_quanta"][post, pre]
        leak = self.dt / self.tau_membrane
        decay = np.exp(-self.dt / self.tau_synapse)
        burn_in = self.burn_in_steps
        n, trials = per_step.shape[1:3]
        shape_in = (n, trials, self.n_neurons, self.n_input)

        def one_step(carry, inputs):
            (v, g), counts, log_prob_used, log_prob_all = carry
            values, index = inputs
            released_in = jax.lax.stop_gradient(releases_of(values[..., :n_syn_in].reshape(shape_in), p_in))
            log_p_in = jnp.sum(_release_log_prob(released_in, logit_in), axis=(-2, -1))
            current = jnp.einsum("btid,id,bd->bti", released_in, quanta_in, x) + bias + g
            v = v + leak * (current - v)
            spikes = _spike(v - 1.0, self.surrogate_steepness)
            log_prob_used, log_prob_all = log_prob_used + log_p_in, log_prob_all + log_p_in
            if self.recurrent:
                # Synapse k (post[k], pre[k]) releases on a spike of pre[k].
                released_rec = jax.lax.stop_gradient(releases_of(values[..., n_syn_in:], p_rec))
                log_p_rec = _release_log_prob(released_rec, logit_rec)
                presynaptic = spikes[..., pre]
                # A draw at a synapse whose presynaptic neuron is silent changes nothing: its
                # score has mean zero given the rest, so leaving it out is unbiased and quieter.
                log_prob_used = log_prob_used + jnp.sum(log_p_rec * jax.lax.stop_gradient(presynaptic), axis=-1)
                log_prob_all = log_prob_all + jnp.sum(log_p_rec, axis=-1)
                transmitted = released_rec * quanta_rec * presynaptic
                g = g * decay + jnp.zeros_like(g).at[..., post].add(transmitted)
            v = v * (1.0 - jax.lax.stop_gradient(spikes))
            counts = counts + spikes * (index >= burn_in)
            return ((v, g), counts, log_prob_used, log_prob_all), (spikes if record else None)

        zeros = jnp.zeros((n, trials, self.n_neurons))
        no_log_prob = jnp.zeros((n, trials))
        (_, counts, log_prob_used, log_prob_all), spikes = jax.lax.scan(
            one_step, ((zeros, zeros), zeros, no_log_prob, no_log_prob), (per_step, jnp.arange(per_step.shape[0])))
        return counts, log_prob_used, log_prob_all, spikes

    def _sample(self, params, x, uniforms, record: bool):
        # The score uses the draws that shaped the trial (every input draw; a recurrent draw
        # where its presynaptic neuron spiked); counts carry the surrogate gradient.
        counts, log_prob, _, spikes = self._run(params, x, uniforms, lambda u, p: (u < p).astype(u.dtype), record)
        return counts, log_prob, spikes

    def _replay(self, params, x, releases):
        counts, _, log_prob_all, _ = self._run(params, x, releases, lambda r, p: r, False)
        return log_prob_all, counts


def simulate_release_lif_in_brian2(circuit: ReleaseLIFCircuit, params, x, n_trials: int, seed: int,
                                   target: str = "numpy") -> np.ndarray:
    """Re-simulate the circuit in Brian2: the same equations, parameters and step, one
    network holding every (input, trial) copy. Returns the window counts (n, n_trials, N).

    The correspondence, step by step, in Brian2's schedule: each input synapse draws its
    release (``run_regularly``, slot ``start``); their summed input reaches the neuron
    (summed variable, before the neuron's update); v is updated by forward Euler from the
    previous step's g; the threshold v >= 1 is checked; g decays by exp(-dt / tau_s)
    (slot ``before_synapses``); each spike releases at each recurrent synapse with its
    probability (g += q, seen from the next step on); v is reset to 0: the update of
    ``ReleaseLIFCircuit.simulate``. The random streams differ (Brian2 draws from NumPy's), so
    the two agree in distribution, not spike for spike.
    """
    from circuits.brian_tools import brian_session

    n_trials = count("n_trials", n_trials, 1)
    x = np.asarray(x, dtype=float)
    n_inputs, n, d = x.shape[0], circuit.n_neurons, circuit.n_input
    copies = n_inputs * n_trials
    p = {name: np.asarray(value, dtype=float) for name, value in circuit.release_probability(params).items()}
    with brian_session(target, seed, name=f"release_lif_N{n}") as brian2:
        second = brian2.second
        neurons = brian2.NeuronGroup(
            copies * n, "dv/dt = (-v + input_current + bias + g) / tau_m : 1\ninput_current : 1\ng : 1\n"
                        "bias : 1 (constant)",
            method="euler", dt=circuit.dt * second, threshold="v >= 1", reset="v = 0", name="release_lif_neurons",
            namespace={"tau_m": circuit.tau_membrane * second})
        neurons.bias = np.tile(np.asarray(params["input_bias"], dtype=float), copies)
        # Run-regularly operations belong to their group, so the network runs them with it.
        neurons.run_regularly(f"g = g * {float(np.exp(-circuit.dt / circuit.tau_synapse))!r}",
                                         when="before_synapses", name="synaptic_decay")
        fibres = brian2.NeuronGroup(copies * d, "x : 1 (constant)", dt=circuit.dt * second, name="input_fibres")
        fibres.x = np.repeat(x, n_trials, axis=0).reshape(-1)  # index (input * trials + trial) * D + d
        # Every (copy, neuron, fibre) triple: neuron copy * N + i receives fibre copy * D + d.
        copy, post, pre = (a.reshape(-1) for a in np.meshgrid(np.arange(copies), np.arange(n), np.arange(d),
                                                                indexing="ij"))
        inputs = brian2.Synapses(fibres, neurons, "q : 1 (constant)\np : 1 (constant)\nreleased : 1\n"
                                                  "input_current_post = q * x_pre * released : 1 (summed)",
                                 dt=circuit.dt * second, name="input_synapses")
        inputs.connect(i=copy * d + pre, j=copy * n + post)
        inputs.q = np.asarray(params["input_quanta"], dtype=float)[post, pre]
        inputs.p = p["input"][post, pre]
        inputs.run_regularly("released = int(rand() < p)", when="start", name="input_release")
        objects = [neurons, fibres, inputs]
        if circuit.recurrent:
            quanta = np.asarray(params["recurrent_quanta"], dtype=float)
            rec_post, rec_pre = np.nonzero(~np.eye(n, dtype=bool))
            offsets = np.repeat(np.arange(copies) * n, len(rec_pre))
            synapses = brian2.Synapses(neurons, neurons, "q : 1 (constant)\np : 1 (constant)",
                                       on_pre="g_post += q * int(rand() < p)", dt=circuit.dt * second,
                                       name="recurrent_synapses")
            synapses.connect(i=np.tile(rec_pre, copies) + offsets, j=np.tile(rec_post, copies) + offsets)
            synapses.q = np.tile(quanta[rec_post, rec_pre], copies)
            synapses.p = np.tile(p["recurrent"][rec_post, rec_pre], copies)
            objects.append(synapses)
        return brian2_window_counts(brian2, circuit, neurons, objects, n_inputs, n_trials)
