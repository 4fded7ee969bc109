"""Stopping work that grows with the input when the caller's time is up.

formulations/ reads no clock: a caller that has a deadline passes a `Check`, a callable that
raises `Expired` once the deadline has passed, and every loop whose length grows with the input
(layouts, serving-unit counts, hull points, dominance comparisons, program rows) calls it once
per step. Without a check (None) the loops run to the end, as before.
"""

from __future__ import annotations

from collections.abc import Callable


class Expired(Exception):
    """The caller's deadline passed inside a loop; the caller decides what its partial work is
    worth (an unproven level, an incumbent, no answer)."""


Check = Callable[[], None]
"""Raises `Expired` when the caller's time is up; returns None otherwise."""


def unlimited() -> None:
    """The check of a caller without a deadline."""
    return None


def given(check: Check | None) -> Check:
    """`check`, or one that never stops when the caller has no deadline."""
    return check if check is not None else unlimited
