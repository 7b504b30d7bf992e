"""The E/I ring circuit at published scale (``circuits.ring_ssn``, ``simulations.ring_ssn``):
training and simulation throughput of 50 + 50 cells.

- ``training``: optimiser steps per second of ``run ring-ssn``'s default training step (10
  stimuli x 8 trials x 0.3 s at dt = 0.5 ms, backpropagated through the noisy dynamics), after
  compilation (median of repeats), and the first step's wall time with compilation; the
  default 3000 steps take 3000 / that rate.
- ``simulation``: simulated seconds per wall second of the trained-size circuit, 1 and 40
  trials (the figure's) at once, 1.2 s per trial.
"""

from __future__ import annotations

import time

from benchmarks.trained_spiking import _median_seconds


def run(quick: bool) -> list[dict]:
    import jax
    import jax.numpy as jnp

    from circuits.ring_ssn import RingSSN
    from simulations.ring_ssn import _INITIAL_FILTER_GAIN, ring_task_data
    from simulations.ssn_experiments import _optimiser, _train_step, _TrainingSetting

    ring_size = 8 if quick else 50
    levels = (0.0, 0.25, 0.5, 1.0, 2.0)
    model, x_train, _ = ring_task_data(1, ring_size, 12, 0.5, levels, 2 if quick else 20, 1)
    posterior = model.posterior(x_train)
    task = (jnp.asarray(x_train), jnp.asarray(posterior.mean), jnp.asarray(posterior.cov))
    ssn = RingSSN(model.n_obs, ring_size)
    params = ssn.init(jax.random.PRNGKey(0), filters=_INITIAL_FILTER_GAIN * model.A.T)
    steps = (20, 40) if quick else (200, 400)  # burn-in and window, dt = 0.5 ms
    setting = _TrainingSetting(min(10, len(x_train)), 8, *steps, 1.0, 0.01)
    opt_state = _optimiser(0.01).init(params)

    def one_step(key):
        out = _train_step(ssn, setting, params, opt_state, key, task)
        jax.block_until_ready(out)

    started = time.perf_counter()
    one_step(jax.random.PRNGKey(1))
    first = time.perf_counter() - started
    seconds = _median_seconds(lambda: one_step(jax.random.PRNGKey(2)), 2 if quick else 10)
    simulated = (setting.burn_in_steps + setting.window_steps) * ssn.dt
    rows = [{"workload": f"training step, {ring_size} + {ring_size} cells, {setting.batch_stimuli} stimuli x "
                         f"{setting.trials} trials x {simulated:g} s",
             "trials": setting.batch_stimuli * setting.trials, "seconds": seconds, "first_run_s": first,
             "per_second": 1.0 / seconds, "rate_units": "optimiser steps/s"}]
    n_steps = 240 if quick else 2400  # 1.2 s
    inputs = ssn.constant_input(jnp.asarray(x_train[-1:]), n_steps)
    simulate = jax.jit(lambda p, key, trials: ssn.simulate(p, inputs, key, trials, record_every=2)["u"],
                       static_argnums=2)
    for trials in (1, 40):
        started = time.perf_counter()
        simulate(params, jax.random.PRNGKey(0), trials).block_until_ready()
        first = time.perf_counter() - started
        seconds = _median_seconds(lambda trials=trials: simulate(params, jax.random.PRNGKey(1),
                                                                 trials).block_until_ready(), 1 if quick else 5)
        rows.append({"workload": f"simulation, {ring_size} + {ring_size} cells", "trials": trials,
                     "seconds": seconds, "first_run_s": first, "per_second": trials * n_steps * ssn.dt / seconds,
                     "rate_units": "simulated s / wall s"})
    return rows
