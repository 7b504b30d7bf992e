"""Shared fixtures. Every stochastic test takes ``rng`` (or a seed) explicitly."""

import os

import numpy as np
import pytest

# Keep JAX on CPU and in float64 for exact comparisons; tests must not depend on an accelerator.
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# With as many test workers as cores, XLA's own thread pool in each worker only oversubscribes
# them: one thread per worker ran two workers' test files 4-9% faster on 2 cores (2026-12-01).
# Set before the first JAX computation; a user's own XLA_FLAGS win.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) >= (os.cpu_count() or 1):
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")


def pytest_configure(config):
    """In the controlling process, before any worker starts (workers and the subprocesses of
    the notebook, command-line, sweep and benchmark tests inherit the environment):

    - one JAX compilation cache on disk for the whole run. Every process compiles the same
      training and simulation functions for the same shapes; the cache lets all but the first
      load them. Fresh per run (timings stay those of a clean checkout), removed at the end.
      On the sweep and command-line tests it cut the time from 112 s to 100 s, and the whole
      suite on a clean clone from 35 min 29 s to 28 min 44 s (2026-12-07, 2 cores).
    - one BLAS thread per worker when there are as many workers as cores (as for XLA above).
    A user's own settings win.
    """
    if hasattr(config, "workerinput"):
        return
    import tempfile

    if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
        config._jax_cache = tempfile.TemporaryDirectory(prefix="sampling-circuits-jax-cache-")
        os.environ["JAX_COMPILATION_CACHE_DIR"] = config._jax_cache.name
        os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    workers = config.getoption("numprocesses", None)
    if workers == "auto" or (isinstance(workers, int) and workers >= (os.cpu_count() or 1)):
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(name, "1")


def pytest_unconfigure(config):
    cache = getattr(config, "_jax_cache", None)
    if cache is not None:
        os.environ.pop("JAX_COMPILATION_CACHE_DIR", None)
        cache.cleanup()


@pytest.fixture
def rng(request):
    """A generator seeded from the test's name: reproducible and independent across tests."""
    seed = sum(ord(ch) * (i + 1) for i, ch in enumerate(request.node.nodeid)) % (2**32)
    return np.random.default_rng(seed)


# Test files in decreasing order of their time on 2 workers (measured 2026-12-01; the files
# added 2026-12-06 and 2026-12-07 placed by their own time), roughly 800 s for the first down
# to 40 s for the last listed, started in this order; the many short files that follow fill in at the end.
# Longest-first is the classic greedy for balancing workers: with one file per worker
# (--dist loadfile), a long file started late leaves the other worker idle at the end. The order
# only holds with --no-loadscope-reorder (pyproject.toml): by default xdist orders files by their
# number of tests, and on 2026-12-01 one worker then ran 29 min of CPU, the other 17.
LONGEST_FIRST = (
    "simulations/test_figures.py", "simulations/test_ssn_figures.py", "simulations/test_emergence.py",
    "simulations/test_patch_noise_correlations.py", "simulations/test_sweep.py",
    "simulations/test_spiking_experiments.py", "circuits/test_learning.py", "circuits/test_spiking.py",
    "simulations/test_natural_image_circuits.py", "simulations/test_patch_signatures.py",
    "simulations/test_synapse_experiments.py", "tests/test_examples.py", "tests/test_benchmarks.py",
    "simulations/test_trained_spiking.py", "simulations/test_ring_ssn_experiment.py", "simulations/test_experiments.py",
    "circuits/test_escape_noise.py", "circuits/test_release_lif.py",
    "simulations/test_learning_experiments.py", "simulations/test_cli.py", "analysis/test_gsm_fit.py",
    "simulations/test_natural_images.py", "simulations/test_gsm_figures.py",
    "simulations/test_gsm_gain.py", "simulations/test_gsm_encoders.py",
)


def pytest_collection_modifyitems(session, config, items):
    def rank(item):
        path = item.nodeid.split("::")[0]
        return next((i for i, name in enumerate(LONGEST_FIRST) if path.endswith(name)), len(LONGEST_FIRST))

    items.sort(key=rank)  # stable: the order within each file, and of the other files, is kept
