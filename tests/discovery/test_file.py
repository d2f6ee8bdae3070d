"""`FileDiscovery`: a JSON file polled for changes, on a mock clock.

Files are written synchronously on purpose: were a test to write through a worker
thread, the mock clock could jump to the source's next poll during the write. For the
same reason the tests wait for updates without a deadline (``patience=None``).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import tempfile
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import assume, given
from hypothesis import strategies as st

import trio_pool
from trio_pool import Add, Backoff, DoesNotExist, Remove, Reset
from trio_pool.discovery import FileDiscovery, Meta
from trio_pool.testing import MockPool

from ..support.discovery import (
    collect,
    errors,
    expected_endpoints,
    json_values,
    near_records,
    new_metrics,
    watch_log,
)

LOGGER = "trio_pool.discovery.file"


def entry(host: str, port: int = 80, **meta: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"host": host, "port": port}
    if meta:
        record["meta"] = meta
    return record


def write(path: Path, content: object) -> None:
    """Replace the file atomically, as the docs ask of writers (bytes as they are)."""
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(data)
    temporary.replace(path)


async def test_first_a_reset_then_the_differences(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "endpoints.json"
    write(path, [entry("10.0.0.1", zone="a"), entry("10.0.0.2"), entry("10.0.0.3")])
    async with collect(FileDiscovery(path, interval=2.0), patience=None) as updates:
        assert await updates.next() == Reset(
            [
                (("10.0.0.1", 80), Meta(zone="a")),
                (("10.0.0.2", 80), Meta()),
                (("10.0.0.3", 80), Meta()),
            ]
        )
        assert trio.current_time() == 0
        # 10.0.0.1 changes its meta, 10.0.0.2 goes, 10.0.0.4 comes, 10.0.0.3 stays.
        write(path, [entry("10.0.0.1", zone="b"), entry("10.0.0.3"), entry("10.0.0.4")])
        assert await updates.next() == Add(
            [(("10.0.0.1", 80), Meta(zone="b")), (("10.0.0.4", 80), Meta())]
        )
        assert trio.current_time() == 2.0, "the change is seen at the next poll"
        assert await updates.next() == Remove([("10.0.0.2", 80)])
        assert trio.current_time() == 2.0


async def test_an_unchanged_file_is_not_parsed_again(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "endpoints.json"
    write(path, [entry("a")])
    with watch_log(LOGGER, "content changed") as changed:
        async with collect(FileDiscovery(path), patience=None) as updates:
            await updates.next()
            write(path, [entry("a")])  # the same bytes, rewritten
            await trio.sleep(5.5)
            write(path, [entry("a"), entry("b")])
            assert await updates.next() == Add([(("b", 80), Meta())])
    assert changed.seen == 2, "only new content is parsed"


async def test_bad_records_are_skipped_and_good_ones_kept(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "endpoints.json"
    registry, metrics = new_metrics()
    write(path, [entry("a"), {"host": "b", "port": "80"}, entry("c"), entry("a", 80, x=1)])
    with caplog.at_level(logging.WARNING, LOGGER):
        async with collect(FileDiscovery(path, metrics=metrics), patience=None) as updates:
            assert await updates.next() == Reset([(("a", 80), Meta()), (("c", 80), Meta())])
    assert errors(registry, "file", "bad_record") == 2
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert any('[1]: "port" must be an integer, got a string' in m for m in messages), messages
    assert any("[3]: duplicate of [0]" in m for m in messages), messages


@pytest.mark.parametrize(
    "content",
    [b"[{", b"\xff\xfe", {"host": "a", "port": 80}, b"[NaN]", b""],
    ids=["truncated", "not-utf", "an-object", "nan", "empty"],
)
async def test_an_invalid_file_keeps_the_last_good_set(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, content: object
) -> None:
    path = tmp_path / "endpoints.json"
    registry, metrics = new_metrics()
    write(path, [entry("a"), entry("b")])
    with watch_log(LOGGER, "invalid content") as invalid:
        async with collect(FileDiscovery(path, metrics=metrics), patience=None) as updates:
            await updates.next()
            write(path, content)
            await invalid.wait_for(1)
            assert errors(registry, "file", "invalid") == 1
            write(path, [entry("a"), entry("b"), entry("c")])
            assert await updates.next() == Add([(("c", 80), Meta())]), (
                "the invalid file changed nothing: the next update is relative to the last good set"
            )
    assert invalid.seen == 1, "an invalid file is reported once, not at every poll"


async def test_a_missing_file_does_not_exist(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "endpoints.json"
    async with collect(FileDiscovery(path), patience=None) as updates:
        assert await updates.next() == DoesNotExist()
        write(path, [entry("a")])
        assert await updates.next() == Reset([(("a", 80), Meta())])
        assert trio.current_time() == 1.0
        path.unlink()
        assert await updates.next() == DoesNotExist()
        assert trio.current_time() == 2.0
        write(path, [entry("a")])
        assert await updates.next() == Reset([(("a", 80), Meta())]), (
            "after DoesNotExist, the same content is a Reset again"
        )
    async with collect(FileDiscovery(tmp_path / "no-dir" / "x.json"), patience=None) as updates:
        assert await updates.next() == DoesNotExist()


async def test_a_read_error_keeps_the_set_and_backs_off(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    path = tmp_path / "endpoints.json"
    path.mkdir()  # reading a directory fails with IsADirectoryError
    registry, metrics = new_metrics()
    backoff = Backoff(initial=1.0, maximum=4.0, multiplier=2.0, jitter=0.0)
    source = FileDiscovery(path, interval=0.5, backoff=backoff, metrics=metrics)
    with watch_log(LOGGER, "cannot read it") as failures:
        async with collect(source, patience=None) as updates:
            await failures.wait_for(5)
            assert failures.times == [0, 1, 3, 7, 11], "delays 1, 2, 4, then capped at 4"
            assert errors(registry, "file", "unavailable") == 5
            path.rmdir()
            write(path, [entry("a")])
            assert await updates.next() == Reset([(("a", 80), Meta())])
            assert trio.current_time() == 15
            write(path, [entry("b")])
            await updates.next()
            assert trio.current_time() == 15.5, "after a success, polls are every interval again"


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="interval must be a finite number > 0"):
        FileDiscovery("x", interval=0)
    with pytest.raises(ValueError, match="interval must be a finite number > 0"):
        FileDiscovery("x", interval=math.inf)
    with pytest.raises(TypeError, match=r"backoff must be a trio_pool\.Backoff"):
        FileDiscovery("x", backoff=1.0)  # type: ignore[arg-type]
    assert FileDiscovery("x").path == Path("x")


def entries(endpoints: dict[tuple[str, int], Meta]) -> list[dict[str, Any]]:
    return [{"host": h, "port": p, "meta": m.to_dict()} for (h, p), m in endpoints.items()]


def reject(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


@given(
    st.binary()
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.lists(near_records, max_size=6).map(lambda v: json.dumps(v).encode()),
    st.randoms(use_true_random=False),
)
def test_fuzzed_content_never_ends_the_source_nor_changes_the_set_unless_valid(
    content: bytes, rng: random.Random
) -> None:
    good = [entry("10.0.0.1"), entry("10.0.0.2", 81, zone="a")]
    assume(content != json.dumps(good).encode())
    try:
        document = json.loads(content, parse_constant=reject)
    except (ValueError, RecursionError):
        document = None
    expected = expected_endpoints(good)
    if isinstance(document, list):
        expected = expected_endpoints(document)

    async def main() -> None:
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "endpoints.json"
            write(path, good)
            with watch_log(LOGGER, "content changed") as changed:
                async with collect(FileDiscovery(path, rng=rng), patience=None) as updates:
                    await updates.next()
                    write(path, content)
                    await changed.wait_for(2)
                    # The source yielded the content's updates in the step that logged it.
                    updates.drain()
                    assert updates.state == expected
                    sentinel = ("192.0.2.1", 9)
                    write(path, [*entries(updates.state), entry(*sentinel)])
                    assert await updates.next() == Add([(sentinel, Meta())]), (
                        "only the sentinel changed since the fuzzed content"
                    )

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


async def test_a_read_that_blocks_does_not_hold_the_block(tmp_path: Path) -> None:
    # A FIFO with no writer blocks its reader, as a hung network filesystem would: the
    # read runs in a thread, which must be abandoned, not awaited, when the queue leaves.
    fifo = tmp_path / "endpoints.json"
    os.mkfifo(fifo)
    try:
        with trio.fail_after(5):
            async with trio_pool.open_pool_queue(MockPool(), FileDiscovery(fifo)) as queue:
                await trio.sleep(0.2)  # the read is blocked in its thread by now
                assert queue.closed_error is None
    finally:
        # Let the abandoned thread finish: a writer opening and closing the FIFO ends
        # the reader's wait with an empty read.
        descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(descriptor)
