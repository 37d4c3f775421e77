"""A content-addressed blob store on a local directory (sha256 → bytes)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import tempfile
from pathlib import Path


class BlobNotFound(KeyError):
    pass


class LocalBlobStore:
    """Blobs live at root/ab/cd/<sha256>; writes are atomic, so a crash never leaves half a file."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ValueError("blob keys are lowercase sha256 hex digests")
        return self.root / key[:2] / key[2:4] / key

    def _put_sync(self, data: bytes) -> str:
        key = hashlib.sha256(data).hexdigest()
        path = self._path(key)
        if path.exists():
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return key

    async def put(self, data: bytes) -> str:
        return await asyncio.to_thread(self._put_sync, data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self.read_sync, key)

    def read_sync(self, key: str) -> bytes:
        """The blob's bytes, blocking (for code already in a worker thread: releases)."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc

    def exists(self, key: str) -> bool:
        return self._path(key).exists()

    def disk_usage_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.rglob("*") if p.is_file())
