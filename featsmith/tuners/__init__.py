"""featsmith.tuners (under construction)."""
