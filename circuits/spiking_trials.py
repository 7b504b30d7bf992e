"""What the trained spiking circuits share: a trial from rest, a counting window, a linear readout.

Every trial starts from rest at stimulus onset, runs a burn-in of ``burn_in`` seconds and
then a window of ``window`` seconds in steps of ``dt``; the spike counts n_i of the window
give the trial's sample of the latents, z = c + R n / (T r_0): the window's rates (n / T,
spikes/s) in units of a reference rate r_0 (``readout_rate``, spikes/s), so that R is of
order 1 (Adam moves every parameter by about its step size, whatever the parameter's
scale). One trial, one sample.

The neuron models (``circuits.escape_noise``, ``circuits.release_lif``) subclass
``TrialSpikingCircuit`` and provide ``init``, ``drive`` (the mean feed-forward input),
``noise_scales`` (the sd of each noise source, on which the reliability cost is charged),
``events_per_step`` (the random binary events of one step, per trial: spikes, or synaptic
releases), ``_sample`` and ``_replay``; this class turns the last two into ``simulate`` and
``log_prob``, the interface of ``circuits.spiking_learning``.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from circuits._validation import count, positive, steps

__all__ = ["TrialSpikingCircuit", "brian2_window_counts"]


@dataclass(frozen=True)
class TrialSpikingCircuit:
    """Sizes, time constants and the trial's timing (hyperparameters only).

    Parameters
    ----------
    n_input : D, input dimensions.
    n_neurons : N, spiking neurons.
    n_latent : K, latents read out.
    recurrent : connect the neurons to each other (no autapses).
    tau_membrane : membrane time constant tau_m (s).
    tau_synapse : decay time constant of the recurrent synaptic input tau_s (s).
    dt : time step (s).
    burn_in : time from onset (rest) to the start of the counting window (s).
    window : counting window T (s).
    """

    n_input: int
    n_neurons: int
    n_latent: int
    recurrent: bool = False
    tau_membrane: float = 0.02
    tau_synapse: float = 0.01
    dt: float = 0.001
    burn_in: float = 0.05
    window: float = 0.1

    def __post_init__(self):
        count("n_input", self.n_input, 1)
        count("n_neurons", self.n_neurons, 1)
        count("n_latent", self.n_latent, 1)
        if not isinstance(self.recurrent, bool):
            raise ValueError(f"recurrent must be True or False, got {self.recurrent!r}")
        for name in ("tau_membrane", "tau_synapse", "dt"):
            positive(name, getattr(self, name))
        if self.dt > min(self.tau_membrane, self.tau_synapse):
            raise ValueError(f"dt must be at most the shortest time constant, got dt = {self.dt} s")
        positive("window", self.window)
        if self.window < self.dt:
            raise ValueError(f"window must be at least one step (dt = {self.dt} s), got {self.window} s")
        steps("window", self.window, self.dt)
        steps("burn_in", self.burn_in, self.dt, minimum=0)

    @property
    def burn_in_steps(self) -> int:
        return steps("burn_in", self.burn_in, self.dt, minimum=0)

    @property
    def window_steps(self) -> int:
        return steps("window", self.window, self.dt)

    @property
    def n_steps(self) -> int:
        return self.burn_in_steps + self.window_steps

    @property
    def architecture(self) -> str:
        return "recurrent" if self.recurrent else "single-layer"

    @property
    def readout_rate(self) -> float:
        """r_0, the rate (spikes/s) that reads out as one unit of R n / T."""
        raise NotImplementedError

    def readout(self, params, counts):
        """z = c + R n / (T r_0) from window counts (..., N) -> (..., K)."""
        return counts @ params["readout_weights"].T / (self.window * self.readout_rate) + params["readout_bias"]

    def simulate(self, params, x, key, n_trials: int, record: bool = False) -> dict:
        """Simulate ``n_trials`` trials per input.

        Parameters
        ----------
        x : (n, D) inputs, constant from onset.
        key : JAX PRNG key.
        record : also return the spike trains.

        Returns
        -------
        dict with ``counts`` (n, n_trials, N) spikes in the window, ``log_prob`` (n, n_trials)
        the log-probability (nats) of each trial's random events given the parameters (its
        gradient is the score; the neuron model says which events), ``samples``
        (n, n_trials, K) the readout z, and with ``record`` ``spikes`` (n, n_trials, steps, N)
        as 0/1 floats over burn-in and window.
        """
        x = jnp.asarray(x)
        uniforms = jax.random.uniform(key, (self.n_steps, x.shape[0], count("n_trials", n_trials, 1),
                                            self.events_per_step))
        counts, log_prob, spikes = self._sample(params, x, uniforms, record)
        result = {"counts": counts, "log_prob": log_prob, "samples": self.readout(params, counts)}
        if record:
            result["spikes"] = jnp.moveaxis(spikes, 0, 2)
        return result

    def log_prob(self, params, x, events):
        """Log-probability (nats) of given events (n, trials, steps, ``events_per_step``), 0/1,
        every event counted, for inputs x (n, D), and their window counts:
        (log_prob (n, trials), counts (n, trials, N))."""
        events = jnp.moveaxis(jnp.asarray(events, dtype=jnp.result_type(float)), 2, 0)
        if events.shape[0] != self.n_steps or events.shape[-1] != self.events_per_step:
            raise ValueError(f"events must have shape (n, trials, {self.n_steps}, {self.events_per_step}), "
                             f"got {jnp.moveaxis(events, 0, 2).shape}")
        return self._replay(params, jnp.asarray(x), events)

    def _sample(self, params, x, uniforms, record: bool):
        """(counts, log-probability for the score, spike trains (steps, n, trials, N) or None)
        of trials driven by ``uniforms`` (steps, n, trials, events_per_step) in [0, 1)."""
        raise NotImplementedError

    def _replay(self, params, x, events):
        """(log-probability of every event, counts) of given events (steps, n, trials, E)."""
        raise NotImplementedError


def brian2_window_counts(brian2, circuit: TrialSpikingCircuit, neurons, objects: list, n_inputs: int,
                         n_trials: int) -> np.ndarray:
    """Run a Brian2 network of ``objects`` for one trial's steps, with a spike monitor on
    ``neurons`` (every (input, trial) copy of the N neurons, index (input * trials + trial) * N
    + i), and return its window counts (n_inputs, n_trials, N)."""
    monitor = brian2.SpikeMonitor(neurons, name=f"{neurons.name}_spikes")
    brian2.Network(*objects, monitor).run(circuit.n_steps * circuit.dt * brian2.second, namespace={})
    step_of_spike = np.round(np.asarray(monitor.t / brian2.second) / circuit.dt).astype(np.int64)
    neuron_of_spike = np.asarray(monitor.i, dtype=np.int64)
    in_window = step_of_spike >= circuit.burn_in_steps
    counts = np.bincount(neuron_of_spike[in_window], minlength=n_inputs * n_trials * circuit.n_neurons)
    return counts.reshape(n_inputs, n_trials, circuit.n_neurons).astype(float)
