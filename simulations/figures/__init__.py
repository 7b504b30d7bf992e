"""One script per figure: each builds the data behind a figure (an xarray Dataset that carries
its configuration) and draws the figure from that Dataset alone, so a saved file redraws the
same figure.

Every module here has
- ``NAME``, ``DESCRIPTION``;
- ``build(seed=1, quick=False, progress=False) -> xarray.Dataset`` (``quick``: small sizes for
  CI; the default sizes are the figure's);
- ``plot(ds) -> matplotlib Figure`` (not registered with pyplot).

``sampling-circuits figures [NAME ...]`` builds them (``simulations.figures.make``); each
module also runs alone: ``python -m simulations.figures.onset --out figures/``.
"""

from __future__ import annotations

from simulations.figures import (
                                 architectures,
                                 contrast,
                                 cost_families,
                                 emergence,
                                 gsm_posterior,
                                 noise_correlations,
                                 onset,
                                 patch_contrast,
                                 patch_noise_correlations,
                                 patch_spontaneous,
                                 receptive_fields,
                                 ring_ssn,
                                 spiking,
                                 spontaneous,
                                 ssn_dynamics,
                                 synapse_cost,
                                 synapse_data,
                                 trained_spiking,
)
from simulations.figures._common import main_for, make

__all__ = ["FIGURES", "make", "main_for"]

#: name -> figure module, in gallery order.
FIGURES = {module.NAME: module for module in (architectures, cost_families, emergence, contrast, gsm_posterior, onset,
                                              ssn_dynamics, ring_ssn, spontaneous, noise_correlations, spiking,
                                              trained_spiking, receptive_fields, patch_contrast, patch_spontaneous,
                                              patch_noise_correlations, synapse_data,
                                              synapse_cost)}
