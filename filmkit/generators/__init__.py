"""Generator backends: one interface (base), one registry, backends by kind."""
