"""Recurrent circuits at scale: memory and throughput of N = 10^4 neurons x B = 1024 trials,
and training steps per second at K = 256 (issue 20).

Each workload runs in its own Python process, so its peak resident memory (``ru_maxrss`` of
that process, what the operating system had to provide, JAX's and NumPy's buffers included)
is its own. The simulation is ``RecurrentCircuit.simulate`` (float32 Euler-Maruyama, one
(B, N) x (N, N) product and B N normals per step) with random weights scaled so that the
dynamics are stable; it is compiled first, then timed. On a GPU machine the same script
reports absolute times for that device (``JAX_PLATFORMS`` chooses it).
"""

from __future__ import annotations

import json
import subprocess
import sys

#: (neurons, trials, Euler steps) of the full and the quick run.
SIMULATION = {"full": (10_000, 1024, 20), "quick": (256, 64, 5)}
TRAINING = {"full": (256, 20), "quick": (8, 5)}
MEMORY_BAR_GIB = 8.0

_SIMULATE = """
import json, resource, time
import jax, jax.numpy as jnp
from circuits.recurrent import RecurrentCircuit
n, trials, steps = {n}, {trials}, {steps}
circuit = RecurrentCircuit(n_input=1, n_output=n)
key = jax.random.PRNGKey(0)
params = {{"input_weights": jnp.ones((n, 1)), "input_bias": jnp.zeros(n),
          "recurrent_weights": 0.5 * jax.random.normal(key, (n, n)) / jnp.sqrt(n),
          "log_noise_std": jnp.zeros(n)}}
x = jnp.ones((1, 1))
first = time.perf_counter()
circuit.simulate(params, x, key, trials, steps).block_until_ready()
first = time.perf_counter() - first
started = time.perf_counter()
final = circuit.simulate(params, x, jax.random.PRNGKey(1), trials, steps).block_until_ready()
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "first_run_s": first, "finite": bool(jnp.all(jnp.isfinite(final))),
                  "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                  "device": jax.devices()[0].platform}}))
"""

_TRAIN = """
import json, resource, time
import jax, numpy as np
from circuits import LogCost, Objective, TrainingConfig, train
from circuits.recurrent import RecurrentCircuit
from simulations.tasks import conditioned_linear_gaussian
k, steps = {k}, {steps}
task = conditioned_linear_gaussian(k, 100.0, 0)
_, data = task.sample(5000, np.random.default_rng(0))
circuit = RecurrentCircuit(k, k)
objective = Objective.for_linear_gaussian(task.A, task.noise_std, task.prior_cov, LogCost())
config = TrainingConfig(steps=steps, steps_per_check=steps)
first = time.perf_counter()
train(circuit, objective, data, jax.random.PRNGKey(0), config, progress=False)
first = time.perf_counter() - first
started = time.perf_counter()
train(circuit, objective, data, jax.random.PRNGKey(1), config, progress=False)
seconds = time.perf_counter() - started
print(json.dumps({{"seconds": seconds, "first_run_s": first,
                  "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                  "device": jax.devices()[0].platform}}))
"""


def _in_own_process(source: str) -> dict:
    completed = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"scale workload failed:\n{completed.stderr[-2000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def run(quick: bool) -> list[dict]:
    size = "quick" if quick else "full"
    n, trials, steps = SIMULATION[size]
    simulated = _in_own_process(_SIMULATE.format(n=n, trials=trials, steps=steps))
    k, training_steps = TRAINING[size]
    trained = _in_own_process(_TRAIN.format(k=k, steps=training_steps))
    return [
        {"workload": f"simulate N={n}, B={trials}, {steps} Euler steps", **simulated,
         "per_second": trials * steps / simulated["seconds"], "rate_units": "trial-steps/s",
         "under_memory_bar": simulated["peak_rss_gib"] <= MEMORY_BAR_GIB},
        {"workload": f"train recurrent K={k}, {training_steps} optimiser steps (batch 64 x 16 trials x 40 steps)",
         **trained, "per_second": training_steps / trained["seconds"], "rate_units": "optimiser steps/s",
         "under_memory_bar": trained["peak_rss_gib"] <= MEMORY_BAR_GIB},
    ]
