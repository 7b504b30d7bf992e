"""Basis functions a circuit learns from natural-image patches, against ICA's.

A single-layer circuit learns its own decoder on whitened patches under the sparse-coding
objective (Laplace activity cost Q_kk |r_k|, decoder columns at unit norm;
``simulations.natural_image_circuits``). Each decoder column drawn in pixel space is the
patch the unit stands for (its basis function, or projective field). Each is fitted with a
2-D Gabor (``analysis.gabor``); the figure shows the basis functions, ICA's on the same
patches (the classical result: Olshausen & Field 1996; Bell & Sejnowski 1997), the
distributions of the Gabor fit R^2 for the circuit, ICA and random unit-norm mixtures of
the whitened components (the control: low-pass whitening alone makes smooth images that a
Gabor partly fits), and the orientations of the active units' fitted Gabors.

With a Gaussian activity cost (1/2 r^T Q r) the objective is invariant under rotations of
the decoder's columns, so the learned basis functions are defined only up to rotation and
need not be localised; the figure uses the sparse (Laplace) cost, which breaks that symmetry.
"""

from __future__ import annotations

import sys

import numpy as np

from analysis.plots import _label, new_panels
from simulations.figures._common import figure_dataset, main_for
from simulations.results import config_of

NAME = "receptive-fields"
DESCRIPTION = "basis functions learned by a circuit on natural-image patches, their Gabor fits, and ICA's"
#: (patch side in pixels, whitened components, latents, patches, of which trained on): the
#: default is the issue's 16 x 16 patches with 64 components; quick is the size at which the
#: test suite checks the claim (tests/simulations/test_natural_image_circuits.py).
SIZES = {False: (16, 64, 64, 30_000, 20_000), True: (8, 16, 16, 12_000, 10_000)}
PATCH_SEED = 0  # the patches are the data, fixed; ``seed`` is the circuit's training seed


def natural_image_run(seed: int, quick: bool, progress: bool = False):
    """The ``run natural-images`` Dataset behind the figure: patches from the bundled images,
    a single-layer circuit that learns its decoder at its default training."""
    from simulations.natural_image_circuits import run_natural_images
    from simulations.natural_images import make_patches

    size, n_components, n_latent, n_patches, n_train = SIZES[quick]
    patches = make_patches(PATCH_SEED, size=size, n_patches=n_patches, n_components=n_components)
    # No reference posterior: the figure is about the basis functions (the run's NUTS reference
    # is checked in the tests of run natural-images).
    return run_natural_images(seed, patches, model="sparse", n_latent=n_latent, n_train=n_train,
                              n_reference_draws=0, learn_decoder=True, progress=progress)


def build(seed: int = 1, quick: bool = False, progress: bool = False, natural_image_results=None):
    """``natural_image_results``: an already trained ``run natural-images`` Dataset (sparse
    model, learned decoder) to draw instead of training one."""
    run = natural_image_results if natural_image_results is not None else natural_image_run(seed, quick, progress)
    config = config_of(run)
    if config.get("experiment") != "natural-images" or config.get("model") != "sparse" \
            or not config.get("learn_decoder"):
        raise ValueError("natural_image_results must be a run natural-images Dataset of the sparse model with a "
                         "learned decoder")
    # The run's own variables, units and descriptions included.
    data_vars = {name: run[name].variable for name in (
        "basis_functions", "ica_basis_functions", "active", "unit_activity", "gabor_r_squared", "gabor_orientation",
        "ica_gabor_r_squared", "control_gabor_r_squared", "orientation_coverage", "median_gabor_r_squared",
        "ica_median_gabor_r_squared", "control_median_gabor_r_squared", "active_units")}
    coords = {name: run[name].variable for name in ("pixel", "latent", "ica_unit", "control_unit", "orientation_bin")}
    return figure_dataset(NAME, data_vars, coords, seed, quick, patch_size=config["patch_size"],
                          n_components=config["n_components"], n_latent=config["n_latent"],
                          steps=config["steps"], n_train=config["n_train"], noise_std=config["noise_std"],
                          prior_scale=config["prior_scale"], patches=config["patches"])


def _tile(images: np.ndarray, size: int, order: np.ndarray, columns: int) -> np.ndarray:
    """Images (pixels, units) as a grid, in ``order``, each scaled to [-1, 1]; NaN between tiles."""
    rows = int(np.ceil(len(order) / columns))
    grid = np.full((rows * (size + 1) - 1, columns * (size + 1) - 1), np.nan)
    for position, unit in enumerate(order):
        image = images[:, unit].reshape(size, size)
        image = image / max(np.abs(image).max(), 1e-12)
        row, column = divmod(position, columns)
        grid[row * (size + 1): row * (size + 1) + size, column * (size + 1): column * (size + 1) + size] = image
    return grid


def plot(ds):
    size = int(config_of(ds)["patch_size"])
    figure, axes = new_panels(2, 2, panel_width=4.2, panel_height=3.8)
    (ax_circuit, ax_ica), (ax_r2, ax_orientation) = axes
    n_units = ds.sizes["latent"]
    columns = int(np.ceil(np.sqrt(n_units)))
    by_activity = np.argsort(-ds["unit_activity"].values)
    for ax, images, order, title in (
            (ax_circuit, ds["basis_functions"].values, by_activity,
             f"circuit (active first; median R² {float(ds['median_gabor_r_squared']):.2f})"),
            (ax_ica, ds["ica_basis_functions"].values, np.arange(min(n_units, ds.sizes["ica_unit"])),
             f"ICA (median R² {float(ds['ica_median_gabor_r_squared']):.2f})")):
        ax.imshow(_tile(images, size, order, columns), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    active = ds["active"].values.astype(bool)
    for values, label in ((ds["gabor_r_squared"].values[active], "circuit (active units)"),
                          (ds["ica_gabor_r_squared"].values, "ICA"),
                          (ds["control_gabor_r_squared"].values, "random control")):
        ranked = np.sort(values)
        ax_r2.step(ranked, np.arange(1, len(ranked) + 1) / len(ranked), where="post", label=label)
    _label(ax_r2, "Gabor fit R²", "fraction of units ≤ R²")
    ax_r2.legend(fontsize=8)
    bins = ds["orientation_bin"].values
    ax_orientation.bar(np.degrees(bins), ds["orientation_coverage"].values, width=180 / len(bins) * 0.8)
    _label(ax_orientation, "orientation of the fitted Gabor (deg)", "active units")
    return figure


if __name__ == "__main__":
    sys.exit(main_for(sys.modules[__name__]))
