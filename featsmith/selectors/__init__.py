"""featsmith.selectors (under construction)."""
