"""Argon2 and the vote-integrity report run in worker threads, never on the event loop: a
login or a large report must not stall everyone's answer streams."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI

import app.admin.accounts as accounts
import app.admin.integrity as integrity
from tests.admin.conftest import client_for, login
from tests.admin.seed import add_user


def _recording(fn: Callable[..., Any], threads: list[int]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.get_ident())
        return fn(*args, **kwargs)

    return wrapper


async def _max_loop_gap(work: Callable[[], Any]) -> float:
    """The longest the event loop went without running a 5 ms ticker while `work` ran."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    try:
        await work()
    finally:
        done.set()
        await task
    return max(gaps)


async def test_password_hashing_and_checks_run_off_the_event_loop(
    admin_app: FastAPI, sm: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hashed: list[int] = []
    verified: list[int] = []
    monkeypatch.setattr(accounts, "hash_password", _recording(accounts.hash_password, hashed))
    monkeypatch.setattr(accounts, "verify_password", _recording(accounts.verify_password, verified))
    loop_thread = threading.get_ident()

    username, password = await add_user(sm, "moderator")
    async with client_for(admin_app) as client:
        assert (await login(client, username, password)).status_code == 303
        assert (await login(client, username, "wrong password!!")).status_code == 401
        assert (await login(client, "nobody@example.org", "wrong password!!")).status_code == 401
    assert len(hashed) == 1 and len(verified) == 3
    assert loop_thread not in hashed + verified

    # And the loop really stays free: ten logins at once, the ticker keeps ticking. One
    # Argon2 verification alone takes longer than the gap allowed here.
    async with client_for(admin_app) as client:
        t0 = time.perf_counter()
        accounts.verify_password(None, "x")
        one_verify = time.perf_counter() - t0

        async def ten_logins() -> None:
            await asyncio.gather(*(login(client, username, password) for _ in range(10)))

        gap = await _max_loop_gap(ten_logins)
    assert gap < max(one_verify * 3, 0.25), (gap, one_verify)


async def test_the_integrity_report_is_built_off_the_event_loop(
    staff_login: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[int] = []
    monkeypatch.setattr(integrity, "build_report", _recording(integrity.build_report, built))
    admin = await staff_login("admin", shared_account=True)
    r = await admin.client.get("/admin/api/integrity")
    assert r.status_code == 200, r.text
    page = await admin.client.get("/admin/integrity")
    assert page.status_code == 200
    assert len(built) == 2 and threading.get_ident() not in built
