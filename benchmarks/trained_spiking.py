"""Trained spiking circuits (``circuits.escape_noise``, ``circuits.release_lif``,
``circuits.spiking_learning``): training and simulation throughput at 100 neurons, for both
neuron models (escape noise; LIF with stochastic release at its 8 input synapses each).

- ``training``: optimiser steps per second of the training of a single-layer circuit of 100
  neurons on the K = 4, D = 8 linear-Gaussian task (batch 32 inputs x 16 trials x 150 steps
  of 1 ms), after compilation (median of 3 repeats of 100 steps, 20 for LIF), and the
  first chunk's wall time with compilation.
- ``simulation``: simulated seconds per wall second of the same circuit (single-layer and
  recurrent), for 1 and for 256 trials at once, JAX and Brian2 (numpy target).
"""

from __future__ import annotations

import time

import numpy as np


def _median_seconds(function, repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - started)
    return float(np.median(seconds))


def run(quick: bool) -> list[dict]:
    import jax

    from circuits.escape_noise import EscapeNoiseCircuit, simulate_in_brian2
    from circuits.learning import Objective
    from circuits.release_lif import ReleaseLIFCircuit, simulate_release_lif_in_brian2
    from circuits.reliability import PowerLawCost
    from circuits.spiking_learning import SpikingObjective, SpikingTrainingConfig, train_spiking

    n_neurons = 20 if quick else 100
    rng = np.random.default_rng(0)
    decoder = rng.normal(size=(8, 4))
    objective = SpikingObjective(Objective(decoder, 1.0, np.eye(4), PowerLawCost(2.0)), drive_cost=0.1)
    data = rng.normal(size=(2000, 8))
    x = rng.normal(size=(1, 8))
    rows = []
    models = {"escape": (EscapeNoiseCircuit, simulate_in_brian2),
              "lif": (ReleaseLIFCircuit, simulate_release_lif_in_brian2)}
    for model, (circuit_class, resimulate) in models.items():
        # 800 release draws per step and trial make a LIF step about ten times an escape step.
        steps = 5 if quick else {"escape": 100, "lif": 20}[model]
        config = SpikingTrainingConfig(steps=steps, steps_per_check=steps)
        circuit = circuit_class(8, n_neurons, 4)
        started = time.perf_counter()
        train_spiking(circuit, objective, data, jax.random.PRNGKey(0), config, progress=False)
        first = time.perf_counter() - started
        seconds = _median_seconds(lambda circuit=circuit, config=config: train_spiking(
            circuit, objective, data, jax.random.PRNGKey(1), config, progress=False), 1 if quick else 3)
        rows.append({"workload": f"training, {n_neurons} {model} neurons, batch 32 x 16 trials", "engine": "jax",
                     "trials": 512, "seconds": seconds, "first_run_s": first, "per_second": steps / seconds,
                     "rate_units": "optimiser steps/s"})
        for recurrent in (False,) if quick else (False, True):  # quick: checks the section runs
            circuit = circuit_class(8, n_neurons, 4, recurrent=recurrent)
            params = circuit.init(jax.random.PRNGKey(0))
            simulated_per_trial = circuit.n_steps * circuit.dt
            counts = jax.jit(lambda p, key, trials, circuit=circuit: circuit.simulate(p, x, key, trials)["counts"],
                             static_argnums=2)
            workload = f"simulation, {n_neurons} {model} neurons, {circuit.architecture}"
            for trials in (1, 256):
                started = time.perf_counter()
                counts(params, jax.random.PRNGKey(0), trials).block_until_ready()
                first = time.perf_counter() - started
                seconds = _median_seconds(
                    lambda trials=trials, params=params, counts=counts: counts(params, jax.random.PRNGKey(1),
                                                                               trials).block_until_ready(),
                    1 if quick else 5)
                rows.append({"workload": workload, "engine": "jax", "trials": trials, "seconds": seconds,
                             "first_run_s": first, "per_second": trials * simulated_per_trial / seconds,
                             "rate_units": "simulated s / wall s"})
            trials = 16 if quick else 256
            started = time.perf_counter()
            resimulate(circuit, params, x, trials, seed=0)
            seconds = time.perf_counter() - started
            rows.append({"workload": workload, "engine": "brian2-numpy", "trials": trials, "seconds": seconds,
                         "first_run_s": seconds, "per_second": trials * simulated_per_trial / seconds,
                         "rate_units": "simulated s / wall s"})
    return rows
