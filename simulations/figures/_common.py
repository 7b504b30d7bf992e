"""What the figure scripts share: the figure Dataset, writing the files, the per-script ``main``."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from simulations.results import new_dataset, save, save_figure, variable

__all__ = ["figure_dataset", "make", "main_for", "FORMATS"]

FORMATS = ("png", "pdf")


def figure_dataset(name: str, data_vars: dict, coords: dict, seed: int, quick: bool, **config):
    """The Dataset behind figure ``name``: config (JSON) holds the figure, seed, quick and the rest."""
    return new_dataset(data_vars, coords, {"experiment": f"figure-{name}", "figure": name, "seed": seed,
                                           "quick": quick, **config}, f"figure-{name}")


def index(name: str, values, description: str, units: str = "1"):
    """A coordinate variable."""
    return variable(name, np.asarray(values), units, description)


def make(module, out_dir, seed: int = 1, quick: bool = False, formats=FORMATS, progress: bool = False) -> list[Path]:
    """Build one figure: ``<out>/<name>.nc`` and one image per format. Returns the paths written."""
    out_dir = Path(out_dir)
    for fmt in formats:
        if fmt not in FORMATS:
            raise ValueError(f"formats must be among {FORMATS}, got {fmt!r}")
    ds = module.build(seed=seed, quick=quick, progress=progress)
    paths = [save(ds, out_dir / f"{module.NAME}.nc")]
    figure = module.plot(ds)
    for fmt in formats:
        path = out_dir / f"{module.NAME}.{fmt}"
        paths.append(save_figure(figure, path))
    return paths


def main_for(module, argv=None) -> int:
    """``python -m simulations.figures.<name> [--out DIR] [--seed S] [--quick]``."""
    parser = argparse.ArgumentParser(prog=f"python -m {module.__name__}", description=module.DESCRIPTION)
    parser.add_argument("--out", default="figures", help="output folder")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    args = parser.parse_args(argv)
    for path in make(module, args.out, args.seed, args.quick, progress=True):
        print(path)
    return 0
