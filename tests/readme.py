"""Keep README.md true: every ``<!-- $ cnncost ... -->`` block holds that command's real output.

``python tests/readme.py`` rewrites the blocks; ``tests/test_readme.py`` fails when one is stale.
Commands run in-process with a fixed terminal width, so the output is reproducible.
"""

from __future__ import annotations

import io
import re
import shlex
import sys
from contextlib import redirect_stderr, redirect_stdout, suppress
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK = re.compile(r"(<!-- \$ (cnncost [^\n]*?) -->\n```[a-z]*\n)(.*?)(```)", re.S)


def run(command: str) -> str:
    from cnncost.cli import app

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err), suppress(SystemExit):
        app(shlex.split(command)[1:], standalone_mode=False)
    return out.getvalue()


def render(text: str) -> str:
    return BLOCK.sub(lambda m: m.group(1) + run(m.group(2)) + m.group(4), text)


if __name__ == "__main__":
    new = render(README.read_text())
    README.write_text(new)
    print(f"updated {len(BLOCK.findall(new))} blocks", file=sys.stderr)
