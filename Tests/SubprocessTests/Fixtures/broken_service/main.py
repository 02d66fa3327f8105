"""A service that cannot start: its import fails."""

raise RuntimeError("fixture: this service cannot start")
