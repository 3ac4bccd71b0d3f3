from __future__ import annotations

import asyncio
import multiprocessing
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from evalkit.errors import ConfigError
from evalkit.model import CachedResponse, ResponseCache, cache_key, create_client

BASE: dict[str, Any] = {
    "model": "local:SmolLM2-135M-Instruct|SmolLM2-135M-Instruct.Q4_1.gguf|1",
    "endpoint": "",
    "temperature": 0.7,
    "max_tokens": 32,
    "seed": 7,
    "stop": None,
    "messages": [{"role": "user", "content": "hi"}],
    "schema": None,
    "trial": 0,
}


def _response(text: str = "hello") -> CachedResponse:
    return CachedResponse(text=text, model="m", input_tokens=3, output_tokens=2,
                          finish_reason="stop", latency_s=0.1)


def test_key_is_stable_and_covers_every_input() -> None:
    key = cache_key(**BASE)
    assert key == cache_key(**{**BASE, "messages": [{"content": "hi", "role": "user"}]})
    assert len(key) == 64
    changes = {
        "model": "openai:gpt-4o-mini",
        "endpoint": "127.0.0.1:8080/v1",
        "temperature": 0.0,
        "max_tokens": 33,
        "seed": 8,
        "stop": ["\n"],
        "messages": [{"role": "user", "content": "hi!"}],
        "schema": {"type": "object"},
        "trial": 1,
    }
    keys = {name: cache_key(**{**BASE, name: value}) for name, value in changes.items()}
    assert key not in keys.values()
    assert len(set(keys.values())) == len(changes)


def test_trial_index_separates_entries(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path, mode="read-write")
    cache.put(cache_key(**BASE), _response("trial zero"))
    assert cache.get(cache_key(**{**BASE, "trial": 1})) is None
    hit = cache.get(cache_key(**BASE))
    assert hit is not None
    assert hit.text == "trial zero"


def test_modes(tmp_path: Path) -> None:
    key = cache_key(**BASE)
    read_only = ResponseCache(tmp_path, mode="read-only")
    assert read_only.get(key) is None
    assert read_only.put(key, _response()) is False
    assert not read_only.path.exists()
    ResponseCache(tmp_path, mode="read-write").put(key, _response("stored"))
    hit = read_only.get(key)
    assert hit is not None
    assert hit.text == "stored"
    off = ResponseCache(tmp_path, mode="off")
    assert off.get(key) is None
    assert off.put(key, _response()) is False
    assert len(read_only) == 1
    with pytest.raises(ConfigError, match="read-only"):
        ResponseCache(tmp_path, mode="rw")


def _write_many(directory: str, worker: int, errors: Any = None) -> None:
    cache = ResponseCache(directory, mode="read-write")
    try:
        for i in range(25):
            cache.put(cache_key(**{**BASE, "seed": worker * 100 + i}), _response(f"{worker}/{i}"))
    except Exception as exc:  # reported to the test, which fails on it
        if errors is None:
            raise
        errors.append(repr(exc))


def test_wal_and_concurrent_writers(tmp_path: Path) -> None:
    # Six threads race to create the database: the first WAL switch must not fail any
    # of them with "database is locked" (it did, intermittently, before it was serialised).
    cache = ResponseCache(tmp_path, mode="read-write")
    errors: list[str] = []
    threads = [threading.Thread(target=_write_many, args=(str(tmp_path), w, errors))
               for w in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(cache) == 150
    with sqlite3.connect(cache.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_concurrent_processes_create_one_cache(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write_many, args=(str(tmp_path), w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    assert len(ResponseCache(tmp_path, mode="read-only")) == 100


class Colour(BaseModel):
    name: str


@pytest.mark.model
def test_client_cache_replays_within_a_trial_and_never_across_trials(
    gguf_path: Path, tmp_path: Path
) -> None:
    client = create_client(f"local:{gguf_path}", cache_dir=tmp_path, cache_mode="read-write")
    messages = [{"role": "user", "content": "Write one word about the sea."}]

    async def calls() -> list[Any]:
        first = await client.chat(messages, max_tokens=12, seed=5, trial=0)
        other = await client.chat(messages, max_tokens=12, seed=5, trial=1)
        again = await client.chat(messages, max_tokens=12, seed=5, trial=0)
        return [first, other, again]

    first, other, again = asyncio.run(calls())
    assert (first.cached, other.cached, again.cached) == (False, False, True)
    assert again.text == first.text
    assert (again.input_tokens, again.output_tokens) == (first.input_tokens, first.output_tokens)
    assert client.cache is not None
    assert len(client.cache) == 2

    reader = create_client(f"local:{gguf_path}", cache_dir=tmp_path, cache_mode="read-only")
    replay = asyncio.run(reader.chat(messages, max_tokens=12, seed=5, trial=1))
    assert replay.cached
    assert replay.text == other.text
    fresh = asyncio.run(reader.chat(messages, max_tokens=12, seed=5, trial=2))
    assert not fresh.cached
    assert len(client.cache) == 2  # read-only never writes

    off = create_client(f"local:{gguf_path}", cache_dir=tmp_path, cache_mode="off")
    assert not asyncio.run(off.chat(messages, max_tokens=12, seed=5, trial=0)).cached


@pytest.mark.model
def test_cached_structured_output_is_validated_again(gguf_path: Path, tmp_path: Path) -> None:
    client = create_client(f"local:{gguf_path}", cache_dir=tmp_path, cache_mode="read-write")
    messages = [{"role": "user", "content": "Name a colour as JSON."}]
    first = asyncio.run(client.chat(messages, schema=Colour, max_tokens=24, seed=3, trial=0))
    second = asyncio.run(client.chat(messages, schema=Colour, max_tokens=24, seed=3, trial=0))
    assert second.cached
    assert isinstance(second.parsed, Colour)
    assert second.parsed == first.parsed
