"""featsmith: automated feature engineering and tabular AutoML.

The public entry point is :class:`featsmith.AutoPipeline`; the building blocks live in
:mod:`featsmith.featurize`, :mod:`featsmith.selectors`, :mod:`featsmith.tuners` and
:mod:`featsmith.pipelines`.
"""

from featsmith._version import __version__

__all__ = ["AutoPipeline", "__version__"]


def __getattr__(name):
    # Imported lazily so that `import featsmith` (and the CLI's --help) stays fast and does not
    # pull in LightGBM or torch.
    if name == "AutoPipeline":
        from featsmith.pipelines import AutoPipeline

        return AutoPipeline
    raise AttributeError(f"module 'featsmith' has no attribute {name!r}")
