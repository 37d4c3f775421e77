"""Before the vote, an anonymous battle's JSON cannot carry a model name: the response
models have no place for one, and the real API never sends one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from app.web.schemas import BattleOut, BattlePublic, RevealedBattle, SidePublic, TurnPublic
from tests.api.conftest import consented, registry_names, start_battle, wait_finished
from tests.arena.stack import ArenaStack

SIDE = {"status": "done", "text": "A red square.", "finish_reason": "stop", "error": None}
REVEALED_SIDE = {**SIDE, "model": "tiny-alpha", "completion_tokens": 4, "ttft_ms": 12.5,
                 "latency_ms": 40.0}


def hidden_view(**extra: Any) -> dict[str, Any]:
    return {
        "id": "5d0c7a3e-58a4-4a55-9d43-2f1b5d3c9e10", "names": "hidden", "mode": "anonymous",
        "image": "ab" * 32, "turns": [{"index": 0, "prompt": "What?", "a": SIDE, "b": SIDE}],
        "finished": True, "failed": False, "can_vote": True, "vote": None, "models": None,
        **extra,
    }


def test_hidden_battle_validates_and_has_no_place_for_names() -> None:
    battle = TypeAdapter(BattleOut).validate_python(hidden_view())
    assert isinstance(battle, BattlePublic)
    assert "model" not in SidePublic.model_fields
    assert battle.models is None


@pytest.mark.parametrize("models", [{"a": "tiny-alpha", "b": "tiny-beta"}, "tiny-alpha"])
def test_hidden_battle_rejects_models(models: Any) -> None:
    with pytest.raises(ValidationError):
        BattlePublic.model_validate(hidden_view(models=models))
    with pytest.raises(ValidationError):  # through the union too: "hidden" picks BattlePublic
        TypeAdapter(BattleOut).validate_python(hidden_view(models=models))


def test_hidden_battle_rejects_any_extra_key() -> None:
    for key in ("model_a", "model_names", "timings"):
        with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
            BattlePublic.model_validate(hidden_view(**{key: "tiny-alpha"}))


@pytest.mark.parametrize("extra", [{"model": "tiny-alpha"}, {"ttft_ms": 10.0},
                                   {"latency_ms": 10.0}, {"completion_tokens": 3}])
def test_hidden_side_rejects_names_and_timings(extra: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        SidePublic.model_validate({**SIDE, **extra})
    with pytest.raises(ValidationError):
        TurnPublic.model_validate({"index": 0, "prompt": "q", "a": {**SIDE, **extra}})
    view = hidden_view()
    view["turns"][0]["b"] = {**SIDE, **extra}
    with pytest.raises(ValidationError):
        TypeAdapter(BattleOut).validate_python(view)


def test_revealed_battle_needs_names() -> None:
    revealed = hidden_view(names="revealed", models={"a": "tiny-alpha", "b": "tiny-beta"},
                           vote={"winner": "tie"})
    revealed["turns"][0] = {"index": 0, "prompt": "What?", "a": REVEALED_SIDE,
                            "b": {**REVEALED_SIDE, "model": "tiny-beta"}}
    assert isinstance(TypeAdapter(BattleOut).validate_python(revealed), RevealedBattle)
    with pytest.raises(ValidationError):
        RevealedBattle.model_validate({**revealed, "models": None})


def test_anonymous_battle_json_names_no_model_before_the_vote(
    arena: ArenaStack, models_file: Path
) -> None:
    names = registry_names(models_file)
    visitor = consented(arena.url)
    created = start_battle(visitor, arena.url)
    bid = created["id"]
    finished = wait_finished(visitor, arena.url, bid)
    assert finished["can_vote"] is True, finished
    follow = visitor.post(f"{arena.url}/api/battles/{bid}/turns",
                          json={"prompt": "And the colour?"}, timeout=60)
    assert follow.status_code == 201, follow.text
    after_turn = wait_finished(visitor, arena.url, bid)
    got = visitor.get(f"{arena.url}/api/battles/{bid}", timeout=30)
    seen = [("created", created, {}), ("finished", finished, {}),
            ("follow-up", follow.json(), dict(follow.headers)),
            ("after turn", after_turn, {}), ("get", got.json(), dict(got.headers))]
    for label, body, headers in seen:
        assert body["names"] == "hidden" and body["models"] is None, label
        BattlePublic.model_validate(body)
        text = json.dumps(body) + json.dumps(headers)
        for name in names:
            assert name not in text, f"{label}: {name!r} in {text}"
    assert len(after_turn["turns"]) == 2

    voted = visitor.post(f"{arena.url}/api/battles/{bid}/vote", json={"winner": "model_a"},
                         timeout=30)
    assert voted.status_code == 200, voted.text
    revealed = RevealedBattle.model_validate(voted.json())
    assert revealed.models.a in names and revealed.models.b in names
    assert {side.model for turn in revealed.turns for side in (turn.a, turn.b)
            if side is not None} == set(names)
