"""Natural-image data sets: whitened patches written to a self-describing netCDF file.

``make_patches`` is the Python entry point of ``sampling-circuits patches``; the image
handling and the whitening are in ``analysis.patches``.
"""

from __future__ import annotations

import time

import numpy as np
import xarray as xr

from analysis.patches import LOG_OFFSET, bundled_images, extract_patches, fit_whitening, read_images
from circuits._validation import count
from simulations.results import new_dataset, variable


def make_patches(seed: int, images=None, size: int = 16, n_patches: int = 50_000,
                 n_components: int = 64) -> xr.Dataset:
    """Grey log-intensity patches of ``size`` x ``size`` pixels, DC removed, PCA-whitened
    keeping ``n_components`` components (``analysis.patches``).

    images : a folder of PNG / JPEG / TIFF / van Hateren ``.iml`` files, or None for the
        photographs bundled with scikit-image (offline).
    The file holds the whitened patches (float32), the whitening and de-whitening matrices, the
    variance of each kept component, and each patch's source image and corner, so filters can
    be shown in pixel space: pixel-space patch = mean_patch + whitened @ dewhitening_matrix.T.
    """
    started = time.perf_counter()
    count("seed", seed, 0)
    count("size", size, 1)
    count("n_patches", n_patches, 2)
    count("n_components", n_components, 1)
    if n_components > size * size - 1:
        raise ValueError(f"components must be at most size^2 - 1 = {size * size - 1} (a patch of {size} x {size} "
                         f"pixels, its mean removed), got {n_components}")
    loaded = bundled_images() if images is None else read_images(images)
    patches, source, corner, names = extract_patches(loaded, size, n_patches, np.random.default_rng(seed))
    whitening = fit_whitening(patches, n_components)
    whitened = whitening.whiten(patches).astype(np.float32)
    data_vars = {
        "whitened": variable(("patch", "component"), whitened, "1", "whitened patch: unit variance per component"),
        "whitening_matrix": variable(("component", "pixel"), whitening.whitening_matrix, "1/(ln I)",
                                     "W: whitened = (patch - mean_patch) @ W.T"),
        "dewhitening_matrix": variable(("pixel", "component"), whitening.dewhitening_matrix, "ln I",
                                       "patch (low-passed) = mean_patch + whitened @ dewhitening_matrix.T"),
        "component_variance": variable("component", whitening.variance, "(ln I)^2",
                                       "variance of the DC-removed patches along each principal component"),
        "mean_patch": variable("pixel", whitening.mean, "ln I", "mean of the DC-removed patches"),
        "source": variable("patch", source, "1", "index of the patch's image (coordinate 'image')"),
        "corner": variable(("patch", "axis"), corner, "pixels", "row and column of the patch's top-left corner"),
        "image_shape": variable(("image", "axis"), np.array([loaded[name].shape for name in names]), "pixels",
                                "rows and columns of each image"),
    }
    coords = {"image": variable("image", np.array(names), "1", "source image (file name, or scikit-image name)"),
              "component": variable("component", np.arange(n_components), "1", "principal component, largest first"),
              "pixel": variable("pixel", np.arange(size * size), "1", "pixel, row-major in the patch"),
              "axis": variable("axis", np.array(["row", "column"]), "1", "image axis"),
              "patch": variable("patch", np.arange(n_patches), "1", "patch")}
    config = {"experiment": "patches", "seed": seed, "images": "scikit-image" if images is None else str(images),
              "size": size, "n_patches": n_patches, "n_components": n_components, "log_offset": LOG_OFFSET}
    ds = new_dataset(data_vars, coords, config, "patches")
    ds.attrs["wall_time_s"] = time.perf_counter() - started
    return ds
