"""featsmith.pipelines (under construction)."""
