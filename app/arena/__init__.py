"""Battle lifecycle: the registry, pair sampling, turns, votes and the anonymity rules."""
