"""The release filters' cache: one row per (filter, filter version, content key).

The key is the sha256 of what the filter looked at (an image blob's key, or the hash of a
text), so a re-release, or a release of an overlapping range, runs no OCR, face detection
or PII recognition again on content it has already seen with the same filter version.
``result`` is the filter's JSON verdict (e.g. faces found, OCR PII kinds, the scrubbed text).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db.models import Base, utcnow


class ReleaseFilterCache(Base):
    __tablename__ = "release_filter_cache"

    filter: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    result: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
