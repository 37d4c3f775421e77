"""Publish a finished release: to a Hugging Face dataset repository (huggingface_hub,
with the token configured for it), or to a local folder (a mirror, and what the tests
use: they never reach the network). The manifest is verified first: a folder that does
not match its manifest is never pushed."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from app.release.errors import ReleaseError
from app.release.manifest import ManifestMismatch, verify_manifest


def is_local_target(target: str) -> bool:
    return target.startswith(("file://", "/", "./", "../"))


def push_release(folder: Path, target: str, *, token: str | None = None,
                 api: Any = None) -> str:
    """Upload ``folder`` to ``target`` (``owner/name`` on the hub, or a local path or
    ``file://`` URL); returns where it went."""
    try:
        verify_manifest(folder)
    except (ManifestMismatch, FileNotFoundError) as exc:
        raise ReleaseError(f"{folder} does not match its manifest, not pushing: {exc}") from exc
    if is_local_target(target):
        dest = Path(target.removeprefix("file://"))
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(folder, dest)
        verify_manifest(dest)
        return str(dest)
    from huggingface_hub import HfApi, get_token

    token = token or get_token()
    if not token:
        raise ReleaseError("no Hugging Face token is configured: set HF_TOKEN or run "
                           "`hf auth login`, then push again")
    api = api or HfApi(token=token)
    api.create_repo(target, repo_type="dataset", exist_ok=True, private=True)
    api.upload_folder(folder_path=str(folder), repo_id=target, repo_type="dataset",
                      commit_message="arena release")
    return f"https://huggingface.co/datasets/{target}"
