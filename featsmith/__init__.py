"""featsmith: automated feature engineering and tabular AutoML.

The public entry point is :class:`featsmith.AutoPipeline`; the building blocks live in
:mod:`featsmith.featurize`, :mod:`featsmith.selectors`, :mod:`featsmith.tuners` and
:mod:`featsmith.pipelines`.
"""

import os

from featsmith._version import __version__

# LightGBM and torch share the cores through OpenMP, whose idle threads spin by default: beside
# other busy processes (a parallel trial, a notebook) LightGBM then ran 13-20x slower here. Passive waiting costs nothing measurable here; set before either library loads its
# OpenMP runtime, and only when the user has not chosen.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["AutoPipeline", "__version__"]


def __getattr__(name):
    # Imported lazily so that `import featsmith` (and the CLI's --help) stays fast and does not
    # pull in LightGBM or torch.
    if name == "AutoPipeline":
        from featsmith.pipelines import AutoPipeline

        return AutoPipeline
    raise AttributeError(f"module 'featsmith' has no attribute {name!r}")
