"""Reading a ``Retry-After`` header (RFC 9110, section 10.2.3)."""

from __future__ import annotations

import email.utils

__all__ = ["retry_after_delay"]


def retry_after_delay(value: str | None, now: float) -> float | None:
    """The seconds to wait that a ``Retry-After`` value asks for, or ``None``.

    ``value`` is either delta-seconds (``"120"``) or an HTTP-date
    (``"Wed, 21 Oct 2015 07:28:00 GMT"``), which is compared with ``now``, a Unix time.
    A date in the past gives 0. A missing or malformed value gives ``None``: the server
    asked for nothing we can act on.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None  # an HTTP-date is always GMT; a date without a zone is malformed
    return max(0.0, when.timestamp() - now)
