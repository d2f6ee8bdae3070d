"""HTTP's rules for retries and hedges: which requests may be sent again, and when.

The core (`trio_pool.RetryPolicy`, `trio_pool.Hedging`) knows nothing of HTTP; it takes
hooks. This module supplies them, after RFC 9110 and what Envoy and gRPC retry by
default:

- a request that never reached a server (``httpx.ConnectError``,
  ``httpx.ConnectTimeout``: no connection was made, so not a byte was sent; an HTTP/2
  connection that can open no more streams, ``LocalProtocolError: Max outbound
  streams``) may be sent to another endpoint whatever its method;
- an idempotent request whose connection was lost before any byte of the answer came
  (``httpx.RemoteProtocolError``: "Server disconnected without sending a response", a
  kept-alive connection the server had closed, or a server that died: Envoy's
  ``reset``) may be sent to another endpoint;
- a ``429``, ``502``, ``503`` or ``504`` answer is retried only for an idempotent method
  (RFC 9110, section 9.2.2: ``GET``, ``HEAD``, ``OPTIONS``, ``PUT``, ``DELETE``,
  ``TRACE``), whose repetition means what one request means;
- its ``Retry-After`` (seconds or an HTTP date) is the least wait before the retry; a
  wait longer than the transport's ``max_retry_after`` is not honoured by retrying
  early: the response goes to the caller;
- a body is sent again only if it can be: one httpx holds in memory (no body, bytes,
  a form, JSON), or a stream not read yet. A stream that was read (an async iterator,
  a file) is never replayed, whatever the policy says, since what it yielded is gone;
- a hedge sends a request twice *at once*, so only an idempotent request with a body
  in memory is hedged; any other is sent once.

Retries go to an endpoint the request has not tried (``distinct_endpoints``): a retry
that could only go back to the same endpoint is not sent, and the caller gets what that
endpoint said. So in front of one endpoint the transport sends a request as often as
httpx's own would, once, and a client with retries of its own (the openai SDK, say)
sees every answer; in front of several, a request that one endpoint refused or failed
gets another.

The transport enforces the body and hedging rules on any policy it is given
(`guard_retry`, `guard_hedging`): they are what makes sending a request again correct,
not a matter of taste. Which outcomes are worth a retry stays the policy's.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable, Collection
from typing import Any

import attrs

from .._backoff import Backoff
from .._resilience import Hedging, RetryBudget, RetryPolicy
from ._endpoint import wedged
from ._flavour import httpx
from ._retry_after import retry_after_delay

__all__ = [
    "HTTP_RETRY",
    "IDEMPOTENT_METHODS",
    "RETRY_STATUSES",
    "ReadOnceStream",
    "guard_hedging",
    "guard_retry",
    "http_retry",
    "may_hedge",
    "replayable_body",
    "track_body",
]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
"""The methods RFC 9110 calls idempotent: sending one twice means sending it once."""

RETRY_STATUSES = frozenset({429, 502, 503, 504})
"""The answers `http_retry` retries by default: too many requests, and the three a
gateway or an overloaded server gives before doing the work."""

_CONNECT_FAILURES = (httpx.ConnectError, httpx.ConnectTimeout)
# httpcore's words for a connection closed before any byte of the answer (h11).
_NO_RESPONSE = "without sending a response"


def _statuses(value: Collection[int]) -> frozenset[int]:
    if isinstance(value, str | bytes) or not isinstance(value, Collection):
        raise TypeError(f"statuses must be a collection of ints, got {value!r}")
    for status in value:
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status < 600:
            raise ValueError(f"statuses must hold HTTP statuses, got {status!r}")
    return frozenset(value)


def _methods(value: Collection[str]) -> frozenset[str]:
    if isinstance(value, str | bytes) or not isinstance(value, Collection):
        raise TypeError(f"methods must be a collection of str, got {value!r}")
    for method in value:
        if not isinstance(method, str) or not method:
            raise TypeError(f"methods must hold method names, got {method!r}")
    return frozenset(method.upper() for method in value)


@attrs.frozen
class HttpRetryOn:
    """`http_retry`'s ``retry_on``: a connect failure, or one of ``statuses`` answered
    to one of ``methods``."""

    statuses: frozenset[int]
    methods: frozenset[str]

    def __call__(self, outcome: object) -> bool:
        if isinstance(outcome, httpx.Response):
            if outcome.status_code not in self.statuses:
                return False
            return _method(outcome) in self.methods
        if isinstance(outcome, httpx.RemoteProtocolError):
            # Lost before the answer began: the server may have acted only if the
            # method is not idempotent.
            return _NO_RESPONSE in str(outcome) and _method(outcome) in self.methods
        # A connection wedged by leaked HTTP/2 streams refuses before sending anything.
        return isinstance(outcome, _CONNECT_FAILURES) or (
            isinstance(outcome, BaseException) and wedged(outcome)
        )


def _method(outcome: httpx.Response | httpx.RequestError) -> str | None:
    """The method of the request an outcome answers, if it is known."""
    try:
        return outcome.request.method
    except RuntimeError:  # a response or an error without its request: nothing is known
        return None


def retry_after(outcome: object) -> float | None:
    """`http_retry`'s ``retry_after``: the seconds a response's ``Retry-After`` asks
    for (a number, or an HTTP date against the wall clock); ``None`` for an error or
    a response without a readable one."""
    if not isinstance(outcome, httpx.Response):
        return None
    return retry_after_delay(outcome.headers.get("retry-after"), time.time())


def http_retry(
    *,
    attempts: int = 3,
    budget: RetryBudget | None = None,
    backoff: Backoff | None = None,
    statuses: Collection[int] = RETRY_STATUSES,
    methods: Collection[str] = IDEMPOTENT_METHODS,
    rng: random.Random | None = None,
    distinct_endpoints: bool = True,
) -> RetryPolicy:
    """A `trio_pool.RetryPolicy` with HTTP's rules, for `open_balanced_transport`.

    Retries a connect failure (``httpx.ConnectError``, ``httpx.ConnectTimeout``: the
    request never reached a server) on another endpoint whatever the method; and, when
    the method is in ``methods`` (the idempotent ones), an answer whose status is in
    ``statuses`` (429, 502, 503, 504) or a connection lost before the answer began
    (``httpx.RemoteProtocolError``, "without sending a response"). Waits what a
    ``Retry-After`` asks, if longer than the backoff. Nothing else is retried: not
    another error (a read timeout, a connection lost mid-answer: the server may have
    acted), not a 500. Each retry goes to an endpoint the request has not tried, or is
    not sent (``distinct_endpoints``): in front of one endpoint, a request is sent once,
    as httpx's own transport sends it. ``HTTP_RETRY`` is ``http_retry()``, the
    transport's default.

    The transport adds what makes a retry correct: a body that cannot be sent again
    (a stream already read) is never replayed, and a ``Retry-After`` longer than its
    ``max_retry_after``, or than what is left of the request's pool timeout, is not
    waited: the caller gets that response.

    Args:
        attempts: tries in all, the first included (``1``: no retries).
        budget: the `trio_pool.RetryBudget` retries draw from; each authority keeps
            its own balance under it. ``None``: ``RetryBudget()``, 20 % of the
            requests plus 10 a second.
        backoff: the delay before each retry (``None``: 25 ms doubling to 250 ms,
            with full jitter).
        statuses: the answers worth a retry, for ``methods``.
        methods: the methods whose answers in ``statuses`` are retried; add ``"POST"``
            only where your server makes POST idempotent (an idempotency key, say).
        rng: a ``random.Random`` for the backoff's jitter (reproducible runs).
        distinct_endpoints: ``True``: a retry goes only to an endpoint the request has
            not tried; ``False``: it may go back to one (with one endpoint, a request
            is then sent up to ``attempts`` times).

    Raises:
        TypeError, ValueError: a bad argument.
    """
    return RetryPolicy(
        attempts=attempts,
        budget=budget,
        backoff=backoff,
        retry_on=HttpRetryOn(_statuses(statuses), _methods(methods)),
        retry_after=retry_after,
        rng=rng,
        distinct_endpoints=distinct_endpoints,
    )


HTTP_RETRY = http_retry()
"""The transport's default retry policy, ``http_retry()``: connect failures for any
method, 429/502/503/504 and connections lost before the answer for idempotent ones,
three attempts in all, each on an endpoint not tried yet, within a ``RetryBudget()`` of
each authority's own. The policy is configuration only (the balances live in each
authority's queue), so sharing it is safe."""


# -- bodies -------------------------------------------------------------------------------


@attrs.define(eq=False, slots=True)
class ReadOnceStream(httpx.AsyncByteStream):
    """A request body that is not held in memory, and whether it was read: once it
    was, what it yielded is gone, and the request cannot be sent again."""

    _stream: httpx.AsyncByteStream
    started: bool = False
    """Whether anything began to read it."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        self.started = True
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        await self._stream.aclose()


def track_body(request: httpx.Request) -> httpx.Request:
    """What the transport sends through the queue for ``request``: itself, if its body
    is in memory; else a copy whose body says whether it was read (`ReadOnceStream`),
    so a retry knows whether it may be sent again. The caller's request is untouched."""
    stream = request.stream
    if isinstance(stream, httpx.ByteStream | ReadOnceStream) or not isinstance(
        stream, httpx.AsyncByteStream
    ):
        return request
    copy = httpx.Request.__new__(httpx.Request)
    copy.__dict__.update(request.__dict__)
    copy.stream = ReadOnceStream(stream)
    return copy


def replayable_body(request: httpx.Request) -> bool:
    """Whether ``request``'s body can be sent again: held in memory, or a stream not
    read yet."""
    stream = request.stream
    if isinstance(stream, httpx.ByteStream):
        return True
    return isinstance(stream, ReadOnceStream) and not stream.started


def may_hedge(request: httpx.Request) -> bool:
    """Whether ``request`` may be sent twice at once: an idempotent method, and a body
    in memory (a stream cannot feed two requests)."""
    return request.method in IDEMPOTENT_METHODS and isinstance(request.stream, httpx.ByteStream)


@attrs.frozen
class _Both:
    """``replayable``: the transport's rule, then the policy's own, if it has one."""

    rule: Callable[[Any], bool]
    own: Callable[[Any], bool] | None

    def __call__(self, request: Any) -> bool:
        return self.rule(request) and (self.own is None or bool(self.own(request)))


@attrs.frozen
class _WithinRetryAfter:
    """``retry_on``: the policy's own, unless the outcome asks for a longer wait than
    the transport honours."""

    own: Callable[[Any], bool]
    retry_after: Callable[[Any], float | None]
    max_retry_after: float

    def __call__(self, outcome: Any) -> bool:
        if not self.own(outcome):
            return False
        asked = self.retry_after(outcome)
        return asked is None or asked <= self.max_retry_after


def guard_retry(policy: RetryPolicy, max_retry_after: float) -> RetryPolicy:
    """``policy`` with the transport's rules on top: only a replayable body is sent
    again, and a ``Retry-After`` beyond ``max_retry_after`` is not waited for."""
    retry_on = policy.retry_on
    if policy.retry_after is not None:
        retry_on = _WithinRetryAfter(retry_on, policy.retry_after, max_retry_after)
    return attrs.evolve(
        policy, retry_on=retry_on, replayable=_Both(replayable_body, policy.replayable)
    )


def guard_hedging(hedging: Hedging) -> Hedging:
    """``hedging`` for idempotent requests with a body in memory only."""
    return attrs.evolve(hedging, replayable=_Both(may_hedge, hedging.replayable))
