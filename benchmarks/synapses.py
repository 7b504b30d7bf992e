"""Networks of stochastic synapses (``circuits.synapses``): training throughput and the cost of
one sweep point.

- ``digits network``: the published 64-100-100-10 network with per-synapse noise (17,000
  synapses, weights drawn per example by the local reparameterisation, sds bounded) trained
  by Adam on scikit-learn's bundled 8 x 8 digits, batch 128, as ``run synapses --task
  digits`` trains it: examples per second after compilation (median of repeats), and the
  first chunk's wall time with compilation.
- ``regression point`` and ``digits point``: one ``run synapses`` at its defaults (regression:
  40 synapses, 10,000 steps of batch 512; digits: 8000 steps of batch 128, then the importance
  over 3 noisy epochs and the output layer's Hessian over 20 draws), as a sweep point costs it
  in a fresh process's first run (compilation included).
"""

from __future__ import annotations

import time

import numpy as np


def run(quick: bool) -> list[dict]:
    import jax

    from circuits.reliability import PowerLawCost
    from circuits.synapses import SynapseTraining, SynapticNetwork, SynapticObjective, train_synapses
    from simulations.synapse_experiments import (
        CLASSIFICATION_TRAINING,
        HIDDEN_LAYERS,
        MAX_WEIGHT_STD,
        digits_task,
        run_synapses,
    )

    x, y, _, _ = digits_task(1)
    network = SynapticNetwork((64, *HIDDEN_LAYERS, 10), max_weight_std=MAX_WEIGHT_STD)
    objective = SynapticObjective("cross-entropy", PowerLawCost(2.0, 1.0, 2.0 * 1e-6))
    steps = 100 if quick else 1000
    training = SynapseTraining(steps=steps, batch_size=CLASSIFICATION_TRAINING.batch_size,
                               learning_rate=CLASSIFICATION_TRAINING.learning_rate,
                               std_learning_rate=CLASSIFICATION_TRAINING.std_learning_rate, steps_per_chunk=steps)
    started = time.perf_counter()
    train_synapses(network, objective, x, y, jax.random.PRNGKey(0), training)
    first = time.perf_counter() - started
    seconds = []
    for repeat in range(1 if quick else 3):
        started = time.perf_counter()
        train_synapses(network, objective, x, y, jax.random.PRNGKey(repeat + 1), training)
        seconds.append(time.perf_counter() - started)
    rows = [{"workload": f"digits network 64-100-100-10, per-synapse noise, {steps} steps of 128",
             "seconds": float(np.median(seconds)), "first_run_s": first,
             "examples_per_s": steps * 128 / float(np.median(seconds))}]
    started = time.perf_counter()
    run_synapses(1, cost_exponent=2.0, progress=False, **(dict(steps=300, n_train=2000) if quick else {}))
    rows.append({"workload": "regression point (run synapses, defaults)", "seconds": time.perf_counter() - started})
    if not quick:  # the quick suite checks the sections run; a digits point adds only time there
        started = time.perf_counter()
        run_synapses(1, task="digits", cost_exponent=2.0, cost_strength=1e-6, progress=False)
        rows.append({"workload": "digits point (run synapses --task digits, defaults)",
                     "seconds": time.perf_counter() - started})
    return rows
