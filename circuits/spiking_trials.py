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
``events_per_step`` (the random binary events of one step, per trial), ``simulate`` and
``log_prob`` (of given events), the interface of ``circuits.spiking_learning``.
"""

from __future__ import annotations

from dataclasses import dataclass

from circuits._validation import count, positive, steps

__all__ = ["TrialSpikingCircuit"]


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
