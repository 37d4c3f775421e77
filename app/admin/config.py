"""Tunable parameters of the admin dashboard, with defaults that suit one small arena."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AdminConfig:
    """Parameters that are not (yet) in app/config.py Settings.

    The web layer reads `app.state.admin_config` when present, else these defaults (with
    `cookie_secure` taken from Settings).
    """

    session_ttl_s: int = 8 * 3600
    cookie_secure: bool | None = None  # None: Secure when the request came over HTTPS
    # Login throttle: failed attempts allowed per window, counted per username and per IP.
    login_failures_per_user: str = "5 per 15 minutes"
    login_failures_per_ip: str = "30 per 15 minutes"
    login_failure_delay_s: float = 0.5
    throttle_storage_uri: str = "memory://"
