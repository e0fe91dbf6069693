"""README example outputs are real: regenerate with ``python tests/readme.py``."""

import pytest

from tests.readme import BLOCK, README, run


@pytest.mark.parametrize("command", [m.group(2) for m in BLOCK.finditer(README.read_text())])
def test_readme_block_is_current(command):
    block = next(m for m in BLOCK.finditer(README.read_text()) if m.group(2) == command)
    if "--against torch" in command or (command.startswith("cnncost verify") and "paper" not in command):
        pytest.importorskip("torch")
    assert block.group(3) == run(command), f"stale README block for `{command}`: run python tests/readme.py"


def test_readme_spec_example_works(tmp_path):
    import re

    from cnncost import analyze, load_model
    from cnncost.analysis.published import check_model

    example = re.search(r"a complete small example:\n\n```yaml\n(.*?)```", README.read_text(), re.S)
    assert example, "the README's spec example is missing"
    path = tmp_path / "tinyres.yaml"
    path.write_text(example.group(1))
    spec = load_model(f"{path}:tinyres")
    a = analyze(spec)
    assert a.totals.params == 175_258
    assert a.within(("stage3",)).out_shape == (64, 8, 8)
    assert [r.status for r in check_model(spec)] == ["pass"]
    assert analyze(load_model(f"{path}:tinyres_wide")).totals.params == 696_618
