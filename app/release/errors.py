"""Errors that stop a release with a message for the operator; nothing is published."""

from __future__ import annotations


class ReleaseError(Exception):
    """The release can not be made as asked (bad range, missing data, ...)."""


class FilterUnavailable(ReleaseError):
    """A filter can not run (its model is missing or broken): never publish unfiltered."""
