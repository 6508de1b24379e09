import os

from hypothesis import HealthCheck, settings

# Idle OpenMP threads spinning beside another busy process slow LightGBM and torch by 10x here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Property tests (tests/frame_strategies.py). "ci", the default, is fixed and small so the
# suite stays affordable on 2 cores and every run draws the same examples; "deep" is for a
# manual run (HYPOTHESIS_PROFILE=deep pytest -k properties). Tests that fit models draw a
# tenth as many examples (frame_strategies.fit_examples()).
_SLOW_DATA = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
settings.register_profile(
    "ci", max_examples=30, deadline=None, derandomize=True, database=None, print_blob=True,
    suppress_health_check=_SLOW_DATA,
)
settings.register_profile("deep", max_examples=300, deadline=None, suppress_health_check=_SLOW_DATA)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
