"""Shared fixtures. Every stochastic test takes ``rng`` (or a seed) explicitly."""

import os

import numpy as np
import pytest

# Keep JAX on CPU and in float64 for exact comparisons; tests must not depend on an accelerator.
os.environ.setdefault("JAX_PLATFORMS", "cpu")


@pytest.fixture
def rng(request):
    """A generator seeded from the test's name: reproducible and independent across tests."""
    seed = sum(ord(ch) * (i + 1) for i, ch in enumerate(request.node.nodeid)) % (2**32)
    return np.random.default_rng(seed)
