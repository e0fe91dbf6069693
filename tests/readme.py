"""Keep README.md and docs/*.md true: their example outputs and tables are generated, never typed.

Two kinds of block are rewritten in place:

* a command block — an HTML comment ``<!-- $ cnncost ARGS -->`` on its own line, then a fenced code
  block: the fence holds that command's real output;
* a generated block — ``<!-- generated: NAME -->`` … ``<!-- end generated -->``, each marker on its
  own line: between them, the markdown that ``GENERATED[NAME]()`` returns (tables rendered from
  the op registry, so the docs cannot drift from the code).

``python tests/readme.py`` rewrites every block of every file; ``tests/test_readme.py`` fails when
one is stale. Commands run in-process with a fixed terminal width, so the output is reproducible.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import sys
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout, suppress
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"

COMMAND = re.compile(r"^(<!-- \$ (cnncost [^\n]*?) -->\n```[a-z]*\n)(.*?)^(```)", re.S | re.M)
GENERATED_BLOCK = re.compile(r"^(<!-- generated: ([\w-]+) -->\n)(.*?)^(<!-- end generated -->)", re.S | re.M)
BLOCK = COMMAND  # the old name


def _generators() -> dict[str, Callable[[], str]]:
    from cnncost.report import optable

    def torch_mapping() -> str:
        from cnncost.torch.fxops import mapping_markdown

        return mapping_markdown()

    return {
        "torch-mapping": torch_mapping,
        "ops": optable.ops_markdown,
        "save-rules": optable.saves_markdown,
        "functions": optable.functions_markdown,
        "limits": optable.limits_markdown,
    }


GENERATED: dict[str, Callable[[], str]] = _generators()
"""Generated-block name → function returning its markdown."""


class Block(NamedTuple):
    kind: str  # "command" or "generated"
    key: str  # the command line, or the generator's name
    content: str  # what the file holds now


def files() -> list[Path]:
    """Every file whose blocks are kept true: README.md, then docs/*.md."""
    return [README, *sorted(DOCS.glob("*.md"))]


def blocks(text: str) -> Iterator[Block]:
    for m in COMMAND.finditer(text):
        yield Block("command", m.group(2), m.group(3))
    for m in GENERATED_BLOCK.finditer(text):
        yield Block("generated", m.group(2), m.group(3))


def run(command: str) -> str:
    from cnncost.cli import app

    out, err = io.StringIO(), io.StringIO()
    os.environ["CNNCOST_WIDE"] = "1"  # the docs do not depend on the terminal of whoever regenerates them
    with redirect_stdout(out), redirect_stderr(err), suppress(SystemExit):
        app(shlex.split(command)[1:], standalone_mode=False)
    return out.getvalue()


def generate(name: str) -> str:
    if name not in GENERATED:
        raise KeyError(f"no generator {name!r} in tests/readme.py GENERATED (have: {', '.join(GENERATED)})")
    text = GENERATED[name]()
    return text if text.endswith("\n") else text + "\n"


def expected(block: Block) -> str:
    """What ``block`` should hold."""
    return run(block.key) if block.kind == "command" else generate(block.key)


def needs_torch(command: str) -> bool:
    """Commands whose output depends on the torch extra (``verify`` checks only ``paper`` without it)."""
    from cnncost.spec.sources import is_source

    words = shlex.split(command)
    if words[1] in ("bench", "import") or any(is_source(w) for w in words[2:]):
        return True
    if words[1] != "verify":
        return False
    against = next((w.split("=", 1)[1] for w in words if w.startswith("--against=")), None)
    if "--against" in words:
        against = words[words.index("--against") + 1]
    return against is None or set(against.split(",")) != {"paper"}


def render(text: str, cache: dict[tuple[str, str], str] | None = None) -> str:
    """``text`` with every block regenerated (``cache`` shares results between files)."""
    cache = {} if cache is None else cache

    def fill(kind: str) -> Callable[[re.Match[str]], str]:
        def sub(m: re.Match[str]) -> str:
            block = Block(kind, m.group(2), m.group(3))
            if (kind, block.key) not in cache:
                cache[kind, block.key] = expected(block)
            return m.group(1) + cache[kind, block.key] + m.group(4)

        return sub

    return GENERATED_BLOCK.sub(fill("generated"), COMMAND.sub(fill("command"), text))


if __name__ == "__main__":
    cache: dict[tuple[str, str], str] = {}
    for path in files():
        old = path.read_text()
        new = render(old, cache)
        if new != old:
            path.write_text(new)
        n = len(list(blocks(new)))
        print(f"{path.relative_to(ROOT)}: {n} blocks{' (updated)' if new != old else ''}", file=sys.stderr)
