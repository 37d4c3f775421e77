"""Errors the admin domain raises; the web layer maps them to 404 / 422."""


class NotFound(LookupError):
    """The battle, visitor, model or user named in an admin action does not exist."""
