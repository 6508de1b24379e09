"""Feature selectors and screens.

* :class:`GBDTSelector`: LightGBM importance (gain, split or held-out permutation), top-k,
  threshold or an automatic cut against shadow (null) features.
* :class:`GradientFeatureSelector`: a relaxed feature mask learned by mini-batch gradient
  descent with torch.
* :class:`HalvingScreen`: scores thousands of candidate features by the held-out gain they add
  on top of a base model, with successive halving over candidates and rows.
"""

from featsmith.selectors._gbdt import GBDTSelector
from featsmith.selectors._halving import HalvingScreen

__all__ = ["GBDTSelector", "GradientFeatureSelector", "HalvingScreen"]


def __getattr__(name):
    # Imported on first use so that `from featsmith.selectors import HalvingScreen` does not
    # pull in torch.
    if name == "GradientFeatureSelector":
        from featsmith.selectors._gradient import GradientFeatureSelector

        return GradientFeatureSelector
    raise AttributeError(f"module 'featsmith.selectors' has no attribute {name!r}")
