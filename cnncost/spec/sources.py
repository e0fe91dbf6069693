"""Torch model sources: the names that stand for an ``nn.Module`` wherever a model name is accepted.

``torchvision:resnet50``, ``timm:resnet50d(drop_rate=0.0)``, ``mypkg.models:build`` and
``path/to/file.py:make_net(width=32)``; keyword arguments in parentheses are Python literals. The
old reference spelling ``torchvision.models.NAME`` (a spec's ``reference:``) is the same as
``torchvision:NAME``. Parsing is torch-free, so that the catalogue can tell a source from a zoo
name without importing torch.
"""

from __future__ import annotations

import ast
import re
from typing import Any, NamedTuple

from cnncost.errors import SpecError

KINDS = ("torchvision", "timm", "module", "file")

_SOURCE = re.compile(
    r"""^\s*(?:
        (?P<tv>torchvision:|torchvision\.models\.)(?P<tvname>[A-Za-z_][\w.]*)
      | timm:(?P<timm>[A-Za-z_][\w.\-]*)
      | (?P<file>[^:()]+\.py):(?P<fcall>[A-Za-z_]\w*)
      | (?P<mod>[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)*):(?P<mcall>[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)
    )\s*(?:\((?P<args>.*)\))?\s*$""",
    re.X | re.S,
)

EXPECTED = (
    "torchvision:NAME, timm:NAME, package.module:callable or path/file.py:callable, "
    "with keyword arguments in parentheses: timm:resnet50d(drop_rate=0.0)"
)


class Source(NamedTuple):
    """A parsed source: where the callable lives, its name, and the keyword arguments to call it with."""

    kind: str
    """torchvision | timm | module | file"""
    where: str
    """The module path (``module``) or file path (``file``); empty for torchvision and timm."""
    name: str
    """The model or callable name (``resnet50``, ``segmentation.fcn_resnet50``, ``build``)."""
    kwargs: dict[str, Any]
    text: str

    @property
    def label(self) -> str:
        """The model's name in reports: ``timm:resnet50d``, ``unet`` for ``tests/nets.py:unet``."""
        return f"{self.kind}:{self.name}" if self.kind in ("torchvision", "timm") else self.name


def is_source(text: str) -> bool:
    """Whether ``text`` names a torch model rather than a zoo model or a spec file (``net.yaml:variant``)."""
    head = text.strip().split("(", 1)[0]
    if head.startswith(("torchvision:", "torchvision.models.", "timm:")):
        return True
    where, colon, _ = head.partition(":")
    return bool(colon) and not where.endswith((".yaml", ".yml")) and _SOURCE.match(text) is not None


def parse_source(text: str) -> Source:
    """``'timm:dpn68(num_classes=10)'`` → Source('timm', '', 'dpn68', {'num_classes': 10}, ...)."""
    m = _SOURCE.match(text)
    if not m:
        raise SpecError(f"bad model source {text!r}", expected=EXPECTED)
    kwargs = _kwargs(m.group("args"), text)
    if m.group("tv"):
        return Source("torchvision", "", m.group("tvname"), kwargs, text)
    if m.group("timm"):
        return Source("timm", "", m.group("timm"), kwargs, text)
    if m.group("file"):
        return Source("file", m.group("file").strip(), m.group("fcall"), kwargs, text)
    return Source("module", m.group("mod"), m.group("mcall"), kwargs, text)


def _kwargs(args: str | None, text: str) -> dict[str, Any]:
    if not args or not args.strip():
        return {}
    try:
        call = ast.parse(f"f({args})", mode="eval").body
    except SyntaxError:
        raise SpecError(f"bad model source {text!r}: cannot read the arguments", expected=EXPECTED) from None
    assert isinstance(call, ast.Call)
    if call.args:
        raise SpecError(f"bad model source {text!r}: positional arguments", expected="keyword arguments only")
    out: dict[str, Any] = {}
    for kw in call.keywords:
        if kw.arg is None:
            raise SpecError(f"bad model source {text!r}: **kwargs", expected="keyword arguments only")
        try:
            out[kw.arg] = ast.literal_eval(kw.value)
        except (ValueError, SyntaxError):
            raise SpecError(
                f"bad model source {text!r}: {kw.arg}= is not a literal",
                expected="numbers, strings, True/False/None, tuples, lists or dicts",
            ) from None
    return out
