"""Errors the arena raises on bad requests; the web layer maps `status` to the HTTP status."""


class ArenaError(Exception):
    def __init__(self, message: str, status: int = 400, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers = headers or {}
