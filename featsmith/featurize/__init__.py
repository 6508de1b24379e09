"""featsmith.featurize (under construction)."""
