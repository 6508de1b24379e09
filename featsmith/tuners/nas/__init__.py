"""featsmith.tuners.nas (under construction)."""
