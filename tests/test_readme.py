"""README example outputs are real: regenerate with ``python tests/readme.py``."""

import pytest

from tests.readme import BLOCK, README, run


@pytest.mark.parametrize("command", [m.group(2) for m in BLOCK.finditer(README.read_text())])
def test_readme_block_is_current(command):
    block = next(m for m in BLOCK.finditer(README.read_text()) if m.group(2) == command)
    if "--against torch" in command or (command.startswith("cnncost verify") and "paper" not in command):
        pytest.importorskip("torch")
    assert block.group(3) == run(command), f"stale README block for `{command}`: run python tests/readme.py"
