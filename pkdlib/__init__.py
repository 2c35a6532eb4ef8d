"""pkdlib: Patient Knowledge Distillation (Sun et al., EMNLP 2019) for BERT compression.

Public API::

    from pkdlib import kd_loss, patient_loss, pkd_skip, pkd_last, Objective, RunConfig, run
"""

import warnings

# libraries import tqdm.auto, which warns in every notebook kernel without ipywidgets; pkdlib draws tqdm's
# plain bar (progress.py) and the libraries' own bars are off, so the warning says nothing
warnings.filterwarnings("ignore", message="IProgress not found")

from .config import ConfigError, RunConfig  # noqa: E402
from .layer_maps import LayerMap, layer_map, pkd_last, pkd_skip
from .losses import Objective, compute_loss
from .methods import METHODS
from .terms import TERMS, kd_loss, patient_loss

__version__ = "0.1.0"


def run(*args, **kwargs):
    """Train one run and write its record (see :func:`pkdlib.runs.run`)."""
    from .runs import run as _run

    return _run(*args, **kwargs)


__all__ = [
    "kd_loss",
    "patient_loss",
    "pkd_skip",
    "pkd_last",
    "layer_map",
    "LayerMap",
    "Objective",
    "compute_loss",
    "METHODS",
    "TERMS",
    "RunConfig",
    "ConfigError",
    "run",
]
