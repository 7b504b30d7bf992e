"""Frozen dataclasses as JAX pytrees: numeric fields are leaves, the rest is static.

A compiled function that takes such an object as an argument then compiles once per
static part and leaf shapes: a new cost strength, task or seed reuses the compilation,
where a constant (or a static argument) would force one per value. XLA compilation was
about two thirds of a training run's time on the small tasks before this.
"""

from __future__ import annotations

import jax


def register_frozen_dataclass(cls, leaves: tuple[str, ...], static: tuple[str, ...]):
    """Register ``cls`` with JAX: the fields named in ``leaves`` become traced arguments.

    Unflattening bypasses ``__init__`` and ``__post_init__``: inside a compiled function the
    leaves are tracers, which validation cannot inspect; they come from an object that was
    validated when it was made. Fields in ``static`` must be hashable.
    """
    def flatten(obj):
        return (tuple(getattr(obj, name) for name in leaves), tuple(getattr(obj, name) for name in static))

    def unflatten(static_values, leaf_values):
        obj = object.__new__(cls)
        for name, value in zip(leaves + static, tuple(leaf_values) + tuple(static_values), strict=True):
            object.__setattr__(obj, name, value)
        return obj

    jax.tree_util.register_pytree_node(cls, flatten, unflatten)
    return cls
