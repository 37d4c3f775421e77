"""Inference engine backends: one small adapter per way of running a model."""
