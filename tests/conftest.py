import os

# Idle OpenMP threads spinning beside another busy process slow LightGBM and torch by 10x here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
