"""Number formatting for humans. Records hold exact ints; only reporters call these."""

from __future__ import annotations


def exact(n: int | float) -> str:
    """``1792`` → ``1,792``; exact, never rounded."""
    return f"{n:,}" if isinstance(n, int) else f"{n:,.6g}"


def human(n: float, base: int = 1000) -> str:
    """``138357544`` → ``138.4M`` (SI by default, binary with ``base=1024``)."""
    units = ["", "K", "M", "G", "T", "P"]
    value = float(n)
    for unit in units:
        if abs(value) < base or unit == units[-1]:
            return f"{value:.4g}{unit}" if unit else f"{int(value) if value.is_integer() else value:g}"
        value /= base
    raise AssertionError


def human_bytes(n: float) -> str:
    """Bytes in binary units: ``61_950_432`` → ``59.08 MiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.4g} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    raise AssertionError
