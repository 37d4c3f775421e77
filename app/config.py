"""All settings, from environment variables prefixed ARENA_ (and an optional .env file).

No other module reads the environment: they take a `Settings` instance.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ARENA_", env_file=".env", extra="ignore")

    # Storage adapters. The embedded default is SQLite + in-process queue + local blobs.
    database_url: str = "sqlite+aiosqlite:///./var/arena.db"
    # PostgreSQL connections per process: kept open (pool) and opened beyond it under
    # bursts (overflow, closed after use, each costing a connect and fresh prepared
    # statements). Size the pool for the usual concurrency; mind max_connections over
    # all processes.
    db_pool_size: int = Field(default=20, ge=1, le=500)
    db_max_overflow: int = Field(default=10, ge=0, le=500)
    redis_url: str | None = None  # None → in-process queue (one process only)
    redis_prefix: str = "arena:"
    data_dir: Path = Path("./var")
    blob_dir: Path | None = None  # default: data_dir / "blobs"
    models_file: Path = REPO_ROOT / "models.yaml"

    # development (default) | demo (`arena demo`) | production (docker-compose sets it).
    # Production refuses generated or placeholder secrets; only the demo makes a demo admin.
    env: Literal["development", "demo", "production"] = "development"

    # Secrets: set both in production. Without them a random value is kept in data_dir.
    secret_key: str | None = None
    ip_hash_salt: str | None = None
    allow_generated_secrets: bool = False  # production starts with generated ones anyway
    # Cookies' Secure flag: unset → follows the request's scheme (https behind a trusted
    # proxy that sends X-Forwarded-Proto); true/false force it.
    cookie_secure: bool | None = None
    # Proxies whose forwarding headers are believed: comma-separated IPs or CIDRs, or "*".
    # Empty (default): none; the client IP is the connection's peer, the scheme its own.
    trusted_proxies: str = ""
    # The header a trusted proxy puts the client IP in: X-Forwarded-For (the rightmost
    # address that is not itself a trusted proxy) or a single-address one like X-Real-IP.
    client_ip_header: str = "X-Forwarded-For"

    # Uploads and turns.
    max_upload_bytes: int = 10 * 1024 * 1024
    max_image_pixels: int = 40_000_000
    max_image_side: int = 1536
    max_prompt_chars: int = 4000
    max_turns: int = 6
    terms_version: str = "2026-11-01"
    # The "random image" preset draws from this folder of images (a `<name>.txt` next to an
    # image holds its example questions, one a line). Unset: the demo draws shapes-world
    # images; elsewhere the preset is off.
    preset_image_dir: Path | None = None

    # Queue protocol.
    lease_ms: int = 15_000  # a job idle this long in another worker's hands is reclaimed
    max_attempts: int = 3
    heartbeat_ttl_s: float = 6.0
    heartbeat_interval_s: float = 1.0
    stream_maxlen: int = 20_000
    stream_ttl_s: int = 24 * 3600
    max_queue_depth_per_worker: int = 256  # above this the arena says it is busy
    # A stopping worker finishes its answers for this long, then hands the rest back; keep
    # it under the orchestrator's stop timeout (docker-compose stop_grace_period: 30s).
    worker_grace_s: float = 25.0
    # Every worker re-enqueues work of its model that no queue holds (Redis lost it, or a
    # crash came between commit and enqueue), once its status is this old.
    sweep_interval_s: float = 10.0
    sweep_grace_s: float = 10.0
    # Share of a worker's slots that batch jobs (judges, bench answers) may fill; the rest
    # stays free for live battles.
    batch_share: float = 0.5

    # Moderation gate (see app/moderation/result.py for what the scores mean).
    moderation_enabled: bool = True
    moderate_answers: bool = True
    nsfw_block: float = 0.8
    nsfw_review: float = 0.4
    abuse_block: float = 0.98
    abuse_review: float = 0.6
    pii_action: str = "review"

    # Abuse limits, per visitor; an IP hash gets ip_factor times as much.
    rate_limits_enabled: bool = True
    battles_per_visitor: str = "30/hour"
    votes_per_visitor: str = "300/day"
    rate_ip_factor: int = 10
    max_generations_in_flight: int = 4  # per visitor, across all their battles

    # Leaderboard freshness besides the nightly export. The embedded default recomputes
    # this long after a vote (0: never); a deployment's `arena scheduler` recomputes every
    # leaderboard_refresh_s when votes came in since the last snapshot (0: nightly only).
    leaderboard_debounce_s: float = 3.0
    leaderboard_refresh_s: float = 300.0
    # Battles their owner deleted (a tombstone) leave every release; on the leaderboard
    # they count only when this is set (cleaning rule `deleted`).
    leaderboard_include_deleted: bool = False
    # Votes of refinement battles count on the refinement board only; set this to count
    # them on every board (the default one too): cleaning rule `refinement`.
    leaderboard_include_refinement: bool = False
    # How every board counts ties (app/ranking/ties.py): half a win each way (FastChat's),
    # left out, or "both are bad" as a loss to a usable-answer line. The integrity page's
    # tie report scores each on the arena's own later votes.
    leaderboard_ties: Literal["half", "ignore", "grounded"] = "half"
    # What the style-control board controls for, comma-separated: any of tokens, headers,
    # list_items, bold, emoji, entities (app/ranking/style.py; empty: all of them).
    leaderboard_style_features: str = ""
    # Model lifecycle (app/arena/lifecycle.py): a model is on the public board after this
    # many counted votes, marked provisional until this many more, and drawn
    # lifecycle_new_model_boost times as often until listed. Unset: 1000 and 1000 in
    # production; 1 and 20 in the demo and development, whose arenas have few votes.
    lifecycle_list_votes: int | None = None
    lifecycle_provisional_votes: int | None = None
    lifecycle_new_model_boost: float = 3.0
    # Adaptive pair sampling (app/ranking/adaptive.py): anonymous battles favour the pairs
    # that shrink the top ranks' uncertainty most (every live pair keeps a floor).
    adaptive_sampling: bool = False

    # Web.
    host: str = "127.0.0.1"
    port: int = 8000
    embedded_workers: bool = False  # run workers inside the web process (demo)
    sse_ping_s: float = 10.0
    # The web process's stream relay (app/web/relay.py): events one SSE client may fall
    # behind before it is told to reconnect, and the longest a read blocks.
    relay_buffer_events: int = 4096
    relay_block_ms: int = 5000
    # The web process reuses a model's live workers for this long (0: ask Redis each time).
    live_workers_cache_s: float = 1.0
    # A worker serves Prometheus metrics on this port (0: off); the web process at /metrics.
    worker_metrics_port: int = 0

    @property
    def blobs_path(self) -> Path:
        return self.blob_dir or (self.data_dir / "blobs")

    def resolved_secret(self, name: str) -> str:
        """Return the configured secret or one kept in data_dir so restarts keep sessions."""
        value = getattr(self, name)
        if value:
            return str(value)
        path = self.data_dir / f".{name}"
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        value = secrets.token_urlsafe(32)
        path.write_text(value)
        path.chmod(0o600)
        return value


SECRET_SETTINGS = ("secret_key", "ip_hash_salt")
# Values that are someone's placeholder, not a secret.
PLACEHOLDER_SECRETS = frozenset(
    {
        "changeme",
        "change-me",
        "change_me",
        "secret",
        "default",
        "password",
        "dev",
        "development",
        "test",
        "insecure",
    }
)
MIN_SECRET_CHARS = 16


class InsecureSecrets(RuntimeError):
    """Production was asked to start with generated or placeholder secrets."""


def check_secrets(settings: Settings) -> None:
    """In production every secret must be set, and look like one, unless the operator
    said ARENA_ALLOW_GENERATED_SECRETS=true: a generated secret lives in one data
    directory, so a second replica (or a lost volume) silently logs everyone out and
    changes every IP hash."""
    if settings.env != "production" or settings.allow_generated_secrets:
        return
    bad = [
        f"ARENA_{name.upper()}"
        for name in SECRET_SETTINGS
        if not (value := getattr(settings, name))
        or len(value) < MIN_SECRET_CHARS
        or value.strip().lower() in PLACEHOLDER_SECRETS
    ]
    if bad:
        raise InsecureSecrets(
            f"ARENA_ENV=production needs real secrets: set {' and '.join(bad)} (for example "
            f"`openssl rand -hex 32`, at least {MIN_SECRET_CHARS} characters), or set "
            "ARENA_ALLOW_GENERATED_SECRETS=true to keep generated ones in ARENA_DATA_DIR."
        )


def secret_from_env(name: str) -> str | None:
    """A named secret (an API key) that the registry refers to by environment variable."""
    return os.environ.get(name)


@lru_cache
def get_settings() -> Settings:
    return Settings()
