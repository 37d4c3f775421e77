"""Prometheus metrics shared by the web process and the workers (names follow Prometheus
conventions: `arena_` prefix, base units, `_total` for counters)."""
