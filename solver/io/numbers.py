"""One conversion for every number a user gives: instance, model, hardware and fleet files,
`--set` values, command-line options, CSV cells, deployment specs and the Python API.

`convert` judges a value a parser or a caller hands over, `parse` a text. Both accept a finite
number within its bounds and nothing else, and say why in the usual one-line form
(`<where> = <value> must be an integer`, `... must be finite`, `... is out of range: must be
> 0 and <= 10,000`). Nothing here converts before judging: Python refuses to turn an integer
of more than 4,300 digits into text (`ValueError`) and one above 1e308 into a float
(`OverflowError`), so a value of any number of digits or any magnitude is compared exactly as
an integer and shown by its digit count, never printed in full. `bool` is not a number here
(Python says `True == 1`; a file that says `true` means something else), and neither is a
string that holds digits.
"""

from __future__ import annotations

import math
import numbers
import re
import sys
from dataclasses import dataclass
from typing import Any

MAX_TEXT_CHARS = 64
"""Longest number accepted as text (an option, a CSV cell, a spec value): 64 characters hold
any float64 in full and every integer the bounds allow."""
_SHOWN_DIGITS = 40
"""Integers of more digits are shown by their digit count."""
_MAX_DIGITS = sys.get_int_max_str_digits() or 4300
"""Python turns no integer of more digits into text (nor text into one)."""
_INTEGER_TEXT = re.compile(r"[+-]?[0-9](?:_?[0-9])*")


@dataclass(frozen=True)
class Bounds:
    """Allowed range: greater than, at least, below, at most (None: no bound)."""

    gt: float | None = None
    ge: float | None = None
    lt: float | None = None
    le: float | None = None

    def holds(self, x: float) -> bool:
        # int and float compare exactly in Python, whatever their size.
        return not (
            (self.gt is not None and not x > self.gt)
            or (self.ge is not None and not x >= self.ge)
            or (self.lt is not None and not x < self.lt)
            or (self.le is not None and not x <= self.le)
        )

    def describe(self) -> str:
        parts = []
        for sign, bound in (("> ", self.gt), (">= ", self.ge), ("< ", self.lt), ("<= ", self.le)):
            if bound is not None:
                parts.append(sign + bound_text(bound))
        return " and ".join(parts)


def bound_text(x: float) -> str:
    """A bound as people write it: 10,000 or 1e+10 or 0.5."""
    if float(x).is_integer() and abs(x) < 1e9:
        return f"{int(x):,}"
    return f"{x:g}"


def digits(n: int) -> int:
    """Decimal digits of an integer of any size (no text conversion)."""
    n = abs(n)
    if n < 10:
        return 1
    d = int(math.log10(n)) + 1  # log10 takes integers of any size; fix its rounding at 10^k
    if 10 ** (d - 1) > n:
        d -= 1
    elif 10**d <= n:
        d += 1
    return d


def show(value: Any, width: int = 60) -> str:
    """`repr(value)` for an error line: shortened, and an integer of many digits by its count."""
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        n = int(value)
        count = digits(n)
        if count >= _MAX_DIGITS:  # what Python converts; a file's longer ones are read as this
            return f"{'-' if n < 0 else ''}<integer of {_MAX_DIGITS:,} or more digits>"
        if count > _SHOWN_DIGITS:
            return f"{'-' if n < 0 else ''}<integer of {count:,} digits>"
    if isinstance(value, str) and len(value) > width:
        return repr(value[: width - 10]) + f"... ({len(value):,} chars)"
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # nesting is capped when reading; huge ints inside
        return f"<{type(value).__name__}>"
    return text if len(text) <= width else text[: width - 5] + "...'" + f" ({len(text):,} chars)"


def kind_name(integer: bool) -> str:
    return "an integer" if integer else "a number"


def convert(
    value: Any,
    where: str,
    *,
    integer: bool = False,
    bounds: Bounds = Bounds(),
    shown: str | None = None,
) -> tuple[Any, str | None]:
    """(the number as int or float, None) or (None, the one-line problem).

    Args:
        value: what a TOML parser or a caller gave: int or float (numpy numbers too); bool,
            strings and anything else are refused.
        integer: an integer is wanted (a whole float such as 8.0 is accepted as 8).
        shown: how to show the value in a message (default: `show(value)`).
    """
    text = show(value) if shown is None else shown
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None, f"{where} = {text} must be {kind_name(integer)}"
    allowed = bounds.describe()
    out_of_range = f"{where} = {text} is out of range: must be {allowed or 'a finite number'}"
    if isinstance(value, numbers.Integral):
        number: int | float = int(value)
    else:
        try:
            number = float(value)
        except OverflowError:  # a Fraction beyond the largest float
            return None, out_of_range
        if math.isnan(number) or math.isinf(number):
            return None, f"{where} = {text} must be finite"
        if integer:
            if not number.is_integer():
                return None, f"{where} = {text} must be an integer"
            number = int(number)
    if not bounds.holds(number):
        return None, out_of_range
    if not integer:
        try:
            number = float(number)
        except OverflowError:  # an integer beyond the largest float with no upper bound
            return None, out_of_range
    return number, None


def parse(
    text: str,
    where: str,
    *,
    integer: bool = False,
    bounds: Bounds = Bounds(),
) -> tuple[Any, str | None]:
    """A number written as text (an option, a CSV cell, a spec value): as `convert`.

    Digits are read as an integer (any count is judged by its size, not converted), anything
    else as a float; words, NaN and infinities are refused with the value shown."""
    raw = str(text).strip()
    if _INTEGER_TEXT.fullmatch(raw):
        count = len(raw.lstrip("+-").replace("_", "").lstrip("0")) or 1
        if count > MAX_TEXT_CHARS:  # too many digits to convert, and beyond every bound
            sign = "-" if raw.startswith("-") else ""
            return None, (
                f"{where} = {sign}<integer of {count:,} digits> is out of range: must be "
                f"{bounds.describe() or 'a finite number'}"
            )
        return convert(int(raw), where, integer=integer, bounds=bounds, shown=_shown_text(raw))
    shown = _shown_text(raw)
    if len(raw) > MAX_TEXT_CHARS:
        return None, f"{where} = {shown!r} must be {kind_name(integer)}"
    try:
        number = float(raw)
    except ValueError:
        return None, f"{where} = {shown!r} must be {kind_name(integer)}"
    if math.isinf(number) and raw.lower().lstrip("+-") not in ("inf", "infinity"):
        # 1e400 is a finite number too large for a float: out of range, not "infinite"
        return None, (
            f"{where} = {shown} is out of range: must be {bounds.describe() or 'a finite number'}"
        )
    return convert(number, where, integer=integer, bounds=bounds, shown=shown)


def integer_text(raw: str) -> int:
    """The integer a text of digits holds; one of more digits than Python converts becomes
    10^4299, out of range for every field and shown as "4,300 or more digits"."""
    raw = raw.strip()
    if len(raw.lstrip("+-").replace("_", "")) < _MAX_DIGITS:
        return int(raw)
    return (-1 if raw.startswith("-") else 1) * 10 ** (_MAX_DIGITS - 1)


def _shown_text(raw: str) -> str:
    return raw if len(raw) <= 30 else f"{raw[:25]}... ({len(raw):,} chars)"


def require(value: Any, where: str, *, integer: bool = False, bounds: Bounds = Bounds()) -> Any:
    """`convert`, raising `InputError` with its problem."""
    number, problem = convert(value, where, integer=integer, bounds=bounds)
    if problem:
        from solver.errors import InputError

        raise InputError([problem])
    return number
