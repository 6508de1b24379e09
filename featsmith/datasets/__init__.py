"""featsmith.datasets (under construction)."""
