"""A full battle over real HTTP: uvicorn + worker processes + Redis Streams + PostgreSQL +
the transformers engine on tiny local models."""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
import yaml
from sqlalchemy import func, select

from app.db.models import Battle, Generation, Turn, Vote
from tests.arena.stack import (
    ArenaStack,
    SSEEvent,
    answers_from,
    assert_streams_match_answers,
    consented_client,
    create_battle,
    db_query,
    frozen,
    png_bytes,
    read_sse,
    services_stack,
)
from tests.conftest import free_port

MODELS = ["tiny-alpha", "tiny-beta"]


@pytest.fixture(scope="module")
def stack(
    pg_url: str, redis_url: str, redis_prefix: str, models_file: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ArenaStack]:
    data = tmp_path_factory.mktemp("arena-data")
    # Plus a model whose endpoint is down: a real engine (the OpenAI backend) that fails.
    registry = yaml.safe_load(models_file.read_text())
    registry["models"].append({
        "name": "tiny-broken", "backend": "openai", "max_new_tokens": 8,
        "options": {"base_url": f"http://127.0.0.1:{free_port()}/v1", "max_retries": 0,
                    "timeout": 2},
    })
    (data / "models.yaml").write_text(yaml.safe_dump(registry))
    s = services_stack(
        pg_url, redis_url, redis_prefix, data / "models.yaml", data,
        ARENA_LEASE_MS="3000", ARENA_MAX_UPLOAD_BYTES=str(2 * 1024 * 1024),
        ARENA_MAX_TURNS="3", ARENA_SSE_PING_S="1",
    )
    try:
        s.start_web()
        for model in MODELS:
            s.start_worker(f"w-{model}-1", model)
        s.wait_models_online(MODELS)
        yield s
    finally:
        s.stop()


def wait_finished(client: httpx.Client, battle_id: str, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = client.get(f"/api/battles/{battle_id}").json()
        if view["finished"] or view["failed"]:
            return view
        time.sleep(0.1)
    raise TimeoutError(battle_id)


def test_full_battle_streams_votes_and_reveals(stack: ArenaStack, pg_url: str) -> None:
    client = consented_client(stack.url)
    seen_before_vote: list[bytes] = []

    raw: list[bytes] = []
    # The workers wait until the stream is open: the answers must arrive as deltas.
    with frozen(stack, [f"w-{m}-1" for m in MODELS]) as resume:
        created = client.post(
            "/api/battles",
            files={"image": ("holiday-photo.png", png_bytes(), "image/png")},
            data={"prompt": "What colour is the image?"},
        )
        assert created.status_code == 201
        seen_before_vote += [created.content, str(created.headers).encode()]
        battle = created.json()
        assert battle["models"] is None and battle["mode"] == "anonymous"
        events = read_sse(client, f"/api/battles/{battle['id']}/stream", raw=raw,
                          on_open=resume)
    seen_before_vote += raw
    assert events[-1].event == "end" and events[-1].data == {"can_vote": True, "failed": False}
    assert {e.event for e in events} <= {"a", "b", "end"}
    texts = {"final": assert_streams_match_answers(events)}

    view = client.get(f"/api/battles/{battle['id']}")
    page = client.get(f"/battle/{battle['id']}")
    seen_before_vote += [view.content, page.content, str(view.headers).encode()]
    assert view.json()["can_vote"] is True
    for side in "ab":
        assert view.json()["turns"][0][side]["text"] == texts["final"][side]

    # Anonymity: no model name in any byte the browser received before the vote.
    blob = b"\n".join(seen_before_vote)
    for name in MODELS:
        assert name.encode() not in blob

    voted = client.post(f"/api/battles/{battle['id']}/vote", json={"winner": "model_a"})
    assert voted.status_code == 200, voted.text
    revealed = voted.json()["models"]
    assert {revealed["a"], revealed["b"]} == set(MODELS)
    assert revealed["a"] in client.get(f"/battle/{battle['id']}").text

    again = client.post(f"/api/battles/{battle['id']}/vote", json={"winner": "tie"})
    assert again.status_code == 409

    async def check(session):  # type: ignore[no-untyped-def]
        votes = (await session.scalars(
            select(Vote).where(Vote.battle_id == uuid.UUID(battle["id"]))
        )).all()
        gens = (await session.scalars(
            select(Generation).join(Turn).where(Turn.battle_id == uuid.UUID(battle["id"]))
        )).all()
        return votes, gens

    votes, gens = db_query(pg_url, check)
    assert [v.winner for v in votes] == ["model_a"] and votes[0].anonymous
    assert {g.status for g in gens} == {"done"}
    for g in gens:
        assert g.completion_tokens and g.completion_tokens > 0
        assert g.ttft_ms is not None and g.latency_ms >= g.ttft_ms
        assert g.finish_reason in ("stop", "length") and g.attempts == 1


def test_vote_before_answers_finish_is_rejected(stack: ArenaStack) -> None:
    client = consented_client(stack.url)
    workers = [p for n, p in stack.procs.items() if n.startswith("w-")]
    for p in workers:
        os.killpg(p.pid, signal.SIGSTOP)  # frozen, but still "live" for a few seconds
    try:
        battle = create_battle(client)
        r = client.post(f"/api/battles/{battle['id']}/vote", json={"winner": "model_b"})
        assert r.status_code == 409
        assert "wait" in r.json()["detail"].lower()
        r = client.post(f"/api/battles/{battle['id']}/turns", json={"prompt": "And?"})
        assert r.status_code == 409
    finally:
        for p in workers:
            os.killpg(p.pid, signal.SIGCONT)
    assert wait_finished(client, battle["id"])["can_vote"]
    r = client.post(f"/api/battles/{battle['id']}/vote", json={"winner": "model_b"})
    assert r.status_code == 200


def test_follow_up_turn_gets_whole_conversation(stack: ArenaStack, pg_url: str) -> None:
    client = consented_client(stack.url)
    battle = create_battle(client, "Describe the image.")
    read_sse(client, f"/api/battles/{battle['id']}/stream")
    r = client.post(f"/api/battles/{battle['id']}/turns", json={"prompt": "Say more."})
    assert r.status_code == 201, r.text
    assert len(r.json()["turns"]) == 2 and r.json()["models"] is None
    events = read_sse(client, f"/api/battles/{battle['id']}/stream?turn=1")
    assert events[-1].data["can_vote"] is True

    async def gens(session):  # type: ignore[no-untyped-def]
        rows = await session.execute(
            select(Turn.index, Generation.side, Generation.prompt_tokens)
            .join(Generation)
            .where(Turn.battle_id == uuid.UUID(battle["id"]))
        )
        return {(i, s): n for i, s, n in rows}

    tokens = db_query(pg_url, gens)
    for side in "ab":
        # The second turn's prompt holds the first question, the answer and the new one.
        assert tokens[(1, side)] > tokens[(0, side)]


def test_reload_mid_stream_resumes_without_losing_or_repeating(stack: ArenaStack) -> None:
    client = consented_client(stack.url)
    # The workers wait until the stream is open (else a tiny model can finish its answer
    # before the first event is read), and are held again the moment the second event
    # arrives, so that the answers are still being written when the page reconnects: the
    # resumed stream must carry the rest of the deltas, not a snapshot.
    workers = [f"w-{m}-1" for m in MODELS]

    def signal_workers(sig: signal.Signals) -> None:
        for name in workers:
            stack.send_signal(name, sig)

    def freeze(ev: SSEEvent) -> None:
        if ev.event in ("a", "b") and len(seen) == 1:
            signal_workers(signal.SIGSTOP)
        seen.append(ev)

    seen: list[SSEEvent] = []
    signal_workers(signal.SIGSTOP)
    try:
        battle = create_battle(client)
        path = f"/api/battles/{battle['id']}/stream"
        first = read_sse(client, path, stop_after=2, on_event=freeze,
                         on_open=lambda: signal_workers(signal.SIGCONT))
    except BaseException:
        signal_workers(signal.SIGCONT)
        raise
    try:
        view = client.get(f"/api/battles/{battle['id']}").json()
        unfinished = [view["turns"][0][s]["status"] in ("queued", "running") for s in "ab"]
        assert unfinished == [True, True], view
    finally:
        resume = threading.Timer(0.5, signal_workers, args=(signal.SIGCONT,))
        resume.start()
    rest = read_sse(client, path, last_event_id=first[-1].id)
    resume.join()
    streamed = answers_from(first + rest)["streamed"]
    assert set(streamed) == {"a", "b"}  # both sides streamed deltas across the reconnect
    assert_streams_match_answers(first + rest)
    assert rest[-1].event == "end"


def test_killed_worker_job_is_regenerated_by_another(stack: ArenaStack, pg_url: str) -> None:
    client = consented_client(stack.url)
    stack.start_worker("w-tiny-alpha-2", "tiny-alpha")
    time.sleep(2)  # the new worker is up and heartbeating
    victim = "w-tiny-alpha-1"
    os.killpg(stack.procs[victim].pid, signal.SIGSTOP)
    stack.procs["w-tiny-alpha-2"].send_signal(signal.SIGSTOP)
    # Both alpha workers are frozen; the job will sit in Redis until one wakes up. The
    # beta worker waits too, until the stream is open (side b must stream deltas).
    beta = "w-tiny-beta-1"
    stack.send_signal(beta, signal.SIGSTOP)
    try:
        battle = create_battle(client, mode="side_by_side", model_a="tiny-alpha",
                               model_b="tiny-beta")
    except BaseException:
        stack.send_signal(beta, signal.SIGCONT)
        raise

    def resume() -> None:
        os.killpg(stack.procs[victim].pid, signal.SIGCONT)
        stack.send_signal(beta, signal.SIGCONT)

    def kill_on_first_token(ev: SSEEvent) -> None:
        # The victim has taken the job and streamed its first token: kill it without
        # warning at once (it can not finish in between), and wake the other worker.
        if ev.event == "a" and ev.data["type"] == "delta" and victim in stack.procs:
            stack.kill(victim)
            stack.procs["w-tiny-alpha-2"].send_signal(signal.SIGCONT)

    try:
        events = read_sse(client, f"/api/battles/{battle['id']}/stream", timeout=90,
                          on_event=kill_on_first_token, on_open=resume)
    finally:
        stack.send_signal(beta, signal.SIGCONT)
    assert victim not in stack.procs, "the victim never streamed a token"
    assert [e.data["type"] for e in events if e.event == "a"].count("reset") == 1
    assert events[-1].data["can_vote"] is True
    texts = {"final": assert_streams_match_answers(events)}

    async def gen_a(session):  # type: ignore[no-untyped-def]
        return await session.scalar(
            select(Generation).join(Turn)
            .where(Turn.battle_id == uuid.UUID(battle["id"]), Generation.side == "a")
        )

    g = db_query(pg_url, gen_a)
    assert g.status == "done" and g.attempts == 2 and g.worker_id == "w-tiny-alpha-2"
    assert g.text == texts["final"]["a"]
    stack.start_worker(victim, "tiny-alpha")  # leave the stack as other tests expect it


def test_bad_inputs_get_clear_errors_and_write_nothing(stack: ArenaStack, pg_url: str) -> None:
    import io

    from PIL import Image

    async def counts(session):  # type: ignore[no-untyped-def]
        return (
            await session.scalar(select(func.count()).select_from(Battle)),
            await session.scalar(select(func.count()).select_from(Generation)),
        )

    before = db_query(pg_url, counts)
    anon = httpx.Client(base_url=stack.url, timeout=30)
    r = anon.post("/api/battles", files={"image": ("a.png", png_bytes(), "image/png")},
                  data={"prompt": "hi"})
    assert r.status_code == 403 and "terms" in r.json()["detail"]

    client = consented_client(stack.url)

    def post(image: bytes | None, prompt: str = "What is this?", name: str = "x.png"):  # type: ignore[no-untyped-def]
        files = {"image": (name, image, "image/png")} if image is not None else None
        return client.post("/api/battles", files=files, data={"prompt": prompt})

    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, format="PNG")
    truncated = png_bytes(size=(300, 300))
    gif = io.BytesIO()
    frames = [Image.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(gif, format="GIF", save_all=True, append_images=frames[1:])
    tiff = io.BytesIO()
    Image.new("RGB", (10, 10)).save(tiff, format="TIFF")

    cases = [
        (post(None), 422, "image"),
        (post(b""), 422, "image"),
        (post(b"this is not an image at all"), 415, "not an image"),
        (post(truncated[: len(truncated) // 2]), 422, "damaged"),
        (post(tiff.getvalue()), 415, "format"),
        (post(bomb.getvalue()), 413, "too large"),
        (post(os.urandom(3 * 1024 * 1024)), 413, "too large"),
        (post(png_bytes(), prompt="   "), 422, "question"),
        (post(png_bytes(), prompt="x" * 5000), 422, "too long"),
    ]
    for response, status, words in cases:
        assert response.status_code == status, (status, response.text)
        assert words in response.json()["detail"].lower(), response.text

    assert db_query(pg_url, counts) == before  # nothing half-written

    ok = post(gif.getvalue(), name="anim.gif")  # GIF: first frame, stored as PNG
    assert ok.status_code == 201
    battle = ok.json()
    img = Image.open(io.BytesIO(client.get(f"/api/images/{battle['image']}").content))
    assert img.format == "PNG" and img.getpixel((5, 5)) == (255, 0, 0)

    r = client.post(f"/api/battles/{battle['id']}/vote", json={"winner": "model_c"})
    assert r.status_code == 422
    stranger = consented_client(stack.url)
    for method, path, body in [
        ("GET", f"/api/battles/{battle['id']}", None),
        ("GET", f"/api/battles/{battle['id']}/stream", None),
        ("POST", f"/api/battles/{battle['id']}/vote", {"winner": "tie"}),
        ("POST", f"/api/battles/{battle['id']}/turns", {"prompt": "mine now"}),
        ("GET", "/api/battles/not-a-uuid", None),
        ("GET", f"/api/images/{battle['image']}", None),
    ]:
        r = stranger.request(method, path, json=body)
        assert r.status_code == 404, (path, r.text)

    read_sse(client, f"/api/battles/{battle['id']}/stream")
    for i in range(2):  # ARENA_MAX_TURNS=3 for this stack
        r = client.post(f"/api/battles/{battle['id']}/turns", json={"prompt": f"more {i}"})
        assert r.status_code == 201
        read_sse(client, f"/api/battles/{battle['id']}/stream")
    r = client.post(f"/api/battles/{battle['id']}/turns", json={"prompt": "one too many"})
    assert r.status_code == 422 and "limit" in r.json()["detail"]


def test_same_image_is_stored_once(stack: ArenaStack, pg_url: str) -> None:
    client = consented_client(stack.url)
    image = png_bytes((10, 120, 200), (80, 60))
    ids = [
        client.post("/api/battles", files={"image": (f"{i}.png", image, "image/png")},
                    data={"prompt": "Again?"}).json()["image"]
        for i in range(2)
    ]
    assert ids[0] == ids[1] and len(ids[0]) == 64


def test_failing_model_fails_its_side_after_the_attempts_and_blocks_the_vote(
    stack: ArenaStack, pg_url: str, redis_url: str
) -> None:
    stack.start_worker("w-broken", "tiny-broken")
    try:
        stack.wait_models_online(["tiny-broken"])
        client = consented_client(stack.url)
        battle = create_battle(client, mode="side_by_side", model_a="tiny-alpha",
                               model_b="tiny-broken")
        events = read_sse(client, f"/api/battles/{battle['id']}/stream", timeout=120)
    finally:
        stack.kill("w-broken", signal.SIGTERM)  # a graceful stop: it leaves the pool at once
    assert events[-1].data == {"can_vote": False, "failed": True}
    b_events = [e.data for e in events if e.event == "b"]
    assert b_events[-1]["type"] == "error" and "could not be generated" in b_events[-1]["message"]
    assert "tiny-broken" not in str(b_events)  # the error text does not name the model
    assert answers_from(events)["final"]["a"] != ""

    r = client.post(f"/api/battles/{battle['id']}/vote", json={"winner": "model_a"})
    assert r.status_code == 409 and "failed" in r.json()["detail"]
    view = client.get(f"/api/battles/{battle['id']}").json()
    assert view["failed"] and not view["can_vote"] and view["turns"][0]["b"]["status"] == "failed"

    async def gen_b(session):  # type: ignore[no-untyped-def]
        return await session.scalar(
            select(Generation).join(Turn)
            .where(Turn.battle_id == uuid.UUID(battle["id"]), Generation.side == "b")
        )

    g = db_query(pg_url, gen_b)
    assert g.status == "failed" and g.attempts == 3 and "Connect" in (g.error or "")
    dead = redis.Redis.from_url(redis_url, decode_responses=True).xrange(
        f"{stack.env['ARENA_REDIS_PREFIX']}dead:tiny-broken"
    )
    assert any(fields["generation_id"] == str(g.id) for _, fields in dead)
