"""The demo world: shapes images with known truth, checkable questions, simulated voters."""
