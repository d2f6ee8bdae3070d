"""`Dispatch`: the one step that selects an endpoint and binds a request to it.

Both ways into the pool take it: the worker, for requests that waited in the queue, and
a caller's fast path, for a request that finds the queue empty and the pool ready at
once. What it asks of the pool decides what is whose failure:

- ``ready_nowait()`` or ``ready()`` raising means the pool is broken: the queue closes;
- ``call()`` raising is the request's own failure (an endpoint that refused it at once):
  that request fails, as it would if the awaitable raised.

`describe_pool` puts the pool's state in words for the errors the queue raises.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from collections.abc import Set as AbstractSet
from typing import Any, Generic, NoReturn, TypeVar

import attrs
import trio

from .._pool import Pool
from ._gate import Gate
from ._metrics import QueueMetrics

__all__ = ["Dispatch", "describe_pool"]

Req = TypeVar("Req")
Rsp = TypeVar("Rsp")


def describe_pool(pool: object) -> tuple[str, BaseException | None]:
    """The pool's state in words and its last endpoint error, for a pool that offers the
    shipped pools' ``statistics()``; nothing for one that does not."""
    statistics = getattr(pool, "statistics", None)
    if not callable(statistics):
        return "", None
    try:
        snapshot = statistics()
        describe = getattr(snapshot, "describe", None)
        detail = describe() if callable(describe) else ""
    except Exception:  # a user's pool: its statistics are a courtesy, not a contract
        return "", None
    cause = getattr(snapshot, "last_error", None)
    return (detail if isinstance(detail, str) else ""), (
        cause if isinstance(cause, BaseException) else None
    )


@attrs.define(eq=False)
class Dispatch(Generic[Req, Rsp]):
    """Select, then bind: shared by the worker and the callers' fast path."""

    _pool: Pool[Any, Any, Req, Rsp]
    _gate: Gate
    _metrics: QueueMetrics
    _terminate: Callable[[str, BaseException], None]
    _wait_for_ready: bool = True
    _ready_nowait: Callable[[], None] | None = attrs.field(init=False)
    _failing: Callable[[], BaseException | None] | None = attrs.field(init=False)
    _ready_or_failing: Callable[..., Awaitable[BaseException | None]] | None = attrs.field(
        init=False
    )
    _ready_elsewhere: Callable[[AbstractSet[Hashable]], bool] | None = attrs.field(init=False)
    tries_failed: int = attrs.field(default=0, init=False)
    """Tries of a failing pool's endpoints, each on a caller's behalf, that failed: a
    request queued before the latest of them shares its outcome."""
    _call_avoiding: Callable[[Req, AbstractSet[Hashable]], tuple[Awaitable[Rsp], Any]] | None = (
        attrs.field(init=False)
    )

    def __attrs_post_init__(self) -> None:
        self._ready_nowait = getattr(self._pool, "ready_nowait", None)
        self._call_avoiding = getattr(self._pool, "call_avoiding", None)
        self._ready_elsewhere = getattr(self._pool, "ready_elsewhere", None)
        # Not waiting for a failing pool takes both; without them, the queue waits.
        failing = getattr(self._pool, "failing", None)
        ready_or_failing = getattr(self._pool, "ready_or_failing", None)
        if self._wait_for_ready or not (callable(failing) and callable(ready_or_failing)):
            failing = ready_or_failing = None
        self._failing = failing
        self._ready_or_failing = ready_or_failing

    @property
    def pool(self) -> Pool[Any, Any, Req, Rsp]:
        return self._pool

    @property
    def can_select_nowait(self) -> bool:
        """Whether the pool offers ``ready_nowait()``."""
        return self._ready_nowait is not None

    def select_nowait(self) -> bool:
        """Select an endpoint if the pool has one ready now.

        Raises:
            PoolClosedError: the pool failed; the queue is closed now.
        """
        ready_nowait = self._ready_nowait
        if ready_nowait is None:
            return False
        try:
            ready_nowait()
        except trio.WouldBlock:
            return False
        except Exception as exc:
            self._broken("pool.ready_nowait()", exc)
        return True

    async def select(self, *, retry_failed: bool = False) -> BaseException | None:
        """Wait until the pool selects an endpoint, and return ``None``; or, if the queue
        does not wait for a failing pool, return the pool's last endpoint error as soon
        as every endpoint is failing (``retry_failed``: after a try of the failed ones,
        see ``ready_or_failing`` in the `Pool` protocol).

        Raises:
            PoolClosedError: the pool failed; the queue is closed now.
        """
        try:
            if self._ready_or_failing is not None:
                return await self._ready_or_failing(retry_failed=retry_failed)
            await self._pool.ready()
        except Exception as exc:
            self._broken("pool.ready()", exc)
        return None

    def elsewhere(self, avoid: AbstractSet[Hashable]) -> bool:
        """Whether the pool has an endpoint ready now outside ``avoid``; ``True`` if it
        cannot tell (a pool without ``ready_elsewhere``).

        Raises:
            PoolClosedError: the pool failed; the queue is closed now.
        """
        ready_elsewhere = self._ready_elsewhere
        if ready_elsewhere is None:
            return True
        try:
            return bool(ready_elsewhere(avoid))
        except Exception as exc:
            self._broken("pool.ready_elsewhere()", exc)

    def failing(self) -> BaseException | None:
        """The pool's last endpoint error if every endpoint is failing and the queue does
        not wait for a failing pool; else ``None``.

        Raises:
            PoolClosedError: the pool failed; the queue is closed now.
        """
        failing = self._failing
        if failing is None:
            return None
        try:
            return failing()
        except Exception as exc:
            self._broken("pool.failing()", exc)

    def bind(self, request: Req, waited: float) -> Awaitable[Rsp]:
        """Bind ``request``, which waited ``waited`` seconds, to the selected endpoint.

        Raises whatever ``pool.call`` raises: the request's own error.
        """
        self._metrics.latency.observe(waited)
        return self._pool.call(request)

    def bind_avoiding(
        self, request: Req, waited: float, avoid: AbstractSet[Hashable]
    ) -> tuple[Awaitable[Rsp], Any]:
        """`bind`, preferring an endpoint whose address is not in ``avoid`` where the pool
        offers ``call_avoiding``; return the bound call and its endpoint's address
        (``None`` for a pool without it).

        Raises whatever ``pool.call`` (or ``call_avoiding``) raises: the request's own.
        """
        self._metrics.latency.observe(waited)
        call_avoiding = self._call_avoiding
        if call_avoiding is None:
            return self._pool.call(request), None
        bound, address = call_avoiding(request, avoid)
        return bound, address

    def _broken(self, what: str, exc: Exception) -> NoReturn:
        self._terminate(f"{what} failed: {exc!r}", exc)
        raise self._gate.closed_failure() from exc
