"""Number formatting for humans. Records hold exact ints; only reporters call these.

Every function takes any size: an int past a float's range (a batch of 10⁴⁰⁰) is written in
scientific notation from its exact digits, never converted to a float (which would overflow).
"""

from __future__ import annotations

import math
from fractions import Fraction

EXACT_DIGITS = 30
"""Numbers below 10³⁰ are written as always (``1,792``, ``138.4M``, ``59.08 MiB``); larger ones, which no
real network reaches, as ``1.235e+400``."""
_HUGE = 10**EXACT_DIGITS


def scientific(n: int | float | Fraction, digits: int = 4) -> str:
    """``n`` as ``1.235e+400`` with ``digits`` significant digits, computed in exact integer arithmetic
    (no float conversion, no decimal string of all of ``n``'s digits)."""
    if isinstance(n, float):
        return f"{n:.{digits}g}"
    whole = int(n)  # a Fraction: its integer part (only called for huge values)
    sign, whole = ("-" if whole < 0 else ""), abs(whole)
    if whole == 0:
        return "0"
    e = int((whole.bit_length() - 1) * math.log10(2))  # within one of floor(log10(whole))
    while 10 ** (e + 1) <= whole:
        e += 1
    while 10**e > whole:
        e -= 1
    shift = e - digits + 1
    lead = (whole + 10**shift // 2) // 10**shift if shift > 0 else whole * 10**-shift  # rounded to `digits`
    if lead >= 10**digits:  # 9.9996e5 rounds up to 1.000e6
        lead //= 10
        e += 1
    text = str(lead)
    mantissa = (text[0] + "." + text[1:]).rstrip("0").rstrip(".")
    return f"{sign}{mantissa}e+{e}"


def _huge(n: int | float | Fraction) -> bool:
    """Whether ``|n| >= 10³⁰`` (compared without converting a huge ``n`` to a float)."""
    return abs(n) >= _HUGE


def exact(n: int | float | Fraction) -> str:
    """``1792`` → ``1,792``; exact, never rounded (a number of more than 30 digits: ``1.235e+400``)."""
    if _huge(n):
        return scientific(n)
    return f"{n:,}" if isinstance(n, int) else f"{float(n):,.6g}"


def _as_float(n: int | float | Fraction) -> float | int | Fraction:
    """``float(n)``, or ``n`` itself when it is too large for a float."""
    try:
        return float(n)
    except OverflowError:
        return n


def json_number(n: int | float | Fraction) -> int | float:
    """``n`` for JSON: a float when it fits one, else the exact integer (JSON has no infinity)."""
    value = _as_float(n)
    return value if isinstance(value, float) else int(value)


def human(n: int | float | Fraction, base: int = 1000) -> str:
    """``138357544`` → ``138.4M`` (SI by default, binary with ``base=1024``); past the P range ``1.235e+400``."""
    units = ["", "K", "M", "G", "T", "P"]
    if _huge(n):
        return scientific(n)
    value = float(n)
    for unit in units:
        if abs(value) < base or unit == units[-1]:
            return f"{value:.4g}{unit}" if unit else f"{int(value) if value.is_integer() else value:g}"
        value /= base
    raise AssertionError


def human_bytes(n: int | float | Fraction) -> str:
    """Bytes in binary units: ``61_950_432`` → ``59.08 MiB``; past 1024 TiB ``1.235e+400 B``."""
    units = ("B", "KiB", "MiB", "GiB", "TiB")
    if _huge(n):
        return f"{scientific(n)} B"
    value = float(n)
    for unit in units:
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.4g} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    raise AssertionError
