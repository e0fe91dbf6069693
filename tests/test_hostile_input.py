"""Malformed and hostile input: one clear line on stderr and exit code 2, never a traceback or a hang."""

from __future__ import annotations

import sys

import pytest

from cnncost import SpecError, analyze, load_model


def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """The console script itself (``cnncost.cli.main``), as a shell runs it."""
    from cnncost.cli import main

    monkeypatch.setattr(sys, "argv", ["cnncost", *args])
    with pytest.raises(SystemExit) as info:
        main()
    out, err = capsys.readouterr()
    return info.value.code, out, err


def error_of(path) -> str:
    with pytest.raises(SpecError) as info:
        analyze(load_model(str(path)))
    return str(info.value)


# -- reading and parsing ---------------------------------------------------------------------
def test_not_utf8(tmp_path):
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"input: [3, 8, 8]\nlayers: [relu]\ntitle: caf\xe9\n")
    assert error_of(path) == f"{path}:3: byte 0xe9 is not UTF-8 text (expected a UTF-8 file (save it as UTF-8))"


def test_dates_are_text_and_bad_scalars_are_errors(write_spec):
    spec = load_model(str(write_spec("title: 2024-13-45\ninput: [3, 8, 8]\nlayers: [relu]\n")))
    assert spec.title == "2024-13-45"
    message = error_of(write_spec("input: [3, 8, 8]\nnotes: !!float abc\nlayers: [relu]\n"))
    assert message.endswith("net.yaml:2: cannot read 'abc' as a number (could not convert string to float: 'abc')")
    message = error_of(write_spec("input: [3, 8, 8]\nparams: {n: " + "9" * 5000 + "}\nlayers: [relu]\n"))
    assert message.endswith(":2: a 5,000-digit integer (expected at most 4,300 digits)")


def test_nesting_and_control_characters(write_spec):
    deep = write_spec("input: [3, 8, 8]\nlayers: " + "[" * 300 + "relu" + "]" * 300 + "\n")
    assert error_of(deep).endswith(
        ":2: the YAML: over the limit of 100 levels of YAML nesting "
        "(expected a smaller spec, or CNNCOST_MAX_YAML_DEPTH=N to raise the limit)"
    )
    bell = write_spec('input: [3, 8, 8]\nlayers: [relu]\ntitle: "a\x07b"\n')
    assert error_of(bell).endswith(
        ":3: invalid YAML: character U+0007 is not allowed "
        "(expected printable text (a tab is written \\t inside quotes))"
    )


# -- resource bombs --------------------------------------------------------------------------
def test_alias_bomb_in_unused_metadata(write_spec):
    text = "input: [3, 8, 8]\nlayers: [relu]\nnotes:\n  a0: &a0 [x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 10):
        text += f"  a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]\n"
    assert "over the limit of 1,000,000 YAML nodes once aliases are expanded" in error_of(write_spec(text))


def test_repeat_and_recursion_budgets(write_spec):
    huge = write_spec("input: [3, 8, 8]\nlayers:\n  - repeat: 1000000000\n    body: [relu]\n")
    assert error_of(huge).endswith(
        ":3: repeat: 1,000,000,000 repetitions: over the limit of 200,000 layers after "
        "expansion (expected a smaller spec, or CNNCOST_MAX_LAYERS=N to raise the limit)"
    )
    mutual = write_spec("input: [3, 8, 8]\nblocks:\n  a(): [b]\n  b(): [a]\nlayers: [a]\n")
    message = error_of(mutual)
    assert (
        "block calls a → b → a → ... → b → a → b (a block that calls itself with no end?): over the limit "
        "of 100 nested block calls" in message
    )
    assert len(message) < 400  # the 100-level path is abbreviated


def test_a_raised_limit_is_honoured(write_spec, monkeypatch):
    path = write_spec("input: [3, 8, 8]\nlayers:\n  - repeat: 30\n    body: [relu]\n")
    monkeypatch.setenv("CNNCOST_MAX_LAYERS", "20")
    assert "over the limit of 20 layers" in error_of(path)
    monkeypatch.setenv("CNNCOST_MAX_LAYERS", "40")
    assert len(analyze(load_model(str(path))).layers) == 31


# -- the catalogue path ----------------------------------------------------------------------
def test_a_broken_file_on_cnncost_path_is_a_warning(tmp_path, monkeypatch, capsys):
    (tmp_path / "broken.yaml").write_bytes(b"input: [3, 8, 8]\nlayers: [relu]\ntitle: caf\xe9\n")
    (tmp_path / "mine.yaml").write_text("family: mine\ninput: [3, 8, 8]\nlayers: [relu]\n")
    monkeypatch.setenv("CNNCOST_PATH", f"{tmp_path}:{tmp_path / 'missing'}")
    code, out, err = run_cli(monkeypatch, capsys, "specs", "mine", "--format", "csv")
    assert code == 0 and out.splitlines()[1].startswith("mine,mine,3×8×8")
    assert f"warning: CNNCOST_PATH: {tmp_path / 'missing'} is not a directory (skipped)" in err
    assert f"warning: skipped {tmp_path / 'broken.yaml'}:3: byte 0xe9 is not UTF-8 text" in err
    code, _, err = run_cli(monkeypatch, capsys, "table", "vgg17")
    assert code == 2 and "error: unknown model 'vgg17' (expected did you mean vgg19, vgg16" in err


# -- what reaches the terminal ---------------------------------------------------------------
def test_escape_sequences_are_written_out(write_spec, monkeypatch, capsys):
    path = write_spec('input: [3, 8, 8]\nlayers:\n  - "x\\e[2J": {relu: {}}\n')
    code, out, _ = run_cli(monkeypatch, capsys, "table", str(path), "--format", "markdown")
    assert code == 0 and "\x1b" not in out and "| x\\x1b[2J | relu |" in out
    code, out, _ = run_cli(monkeypatch, capsys, "table", str(path), "--format", "json")
    assert '"name": "x\\u001b[2J"' in out  # JSON keeps the exact string


def test_option_errors_are_one_line(monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "table", "vgg16", "--batch", "0")
    assert (code, out) == (2, "")
    assert err == "error: cnncost table: Invalid value for '--batch' / '-b': 0 is not in the range x>=1.\n"
    code, _, err = run_cli(monkeypatch, capsys, "tabel")
    assert code == 2 and err == "error: cnncost: No such command 'tabel'. Did you mean 'table'?\n"
    code, out, _ = run_cli(monkeypatch, capsys, "--version")
    assert code == 0 and out.startswith("cnncost ")


# -- numbers the engine must refuse ----------------------------------------------------------
@pytest.mark.parametrize(
    ("layer", "message"),
    [
        ("conv: {out: 4, k: 3, stride: 0}", "conv1: conv.stride: got [0, 0] (expected a positive integer (each))"),
        ("conv: {out: 4, k: 3, dilation: 0}", "conv1: conv.dilation: got [0, 0] (expected a positive integer (each))"),
        ("conv: {out: 4, k: 3, pad: -1}", "conv1: conv.pad: got [-1, -1, -1, -1] (expected an integer ≥ 0 (each))"),
        ("maxpool: {k: 2, stride: 0}", "maxpool1: maxpool.stride: got [0, 0] (expected a positive integer (each))"),
        (
            "adaptive_avgpool: {out: 0}",
            "adaptive_avgpool1: adaptive_avgpool.out: got [0, 0] (expected a positive integer (each))",
        ),
        ("scale: {value: .nan}", "scale1: scale.value: got nan (expected a finite number)"),
        ("bn: {eps: .inf}", "bn1: bn.eps: got inf (expected a finite number)"),
    ],
)
def test_impossible_numbers_are_refused(write_spec, layer, message):
    assert error_of(write_spec(f"input: [3, 8, 8]\nlayers:\n  - {layer}\n")).endswith(f":3: {message}")


def test_a_fractional_input_size_is_refused(write_spec):
    message = error_of(write_spec("input: [3, 224.9, 224]\nlayers: [relu]\n"))
    assert message.endswith(":1: bad input shape [3, 224.9, 224] (expected [C, H, W] in whole numbers)")
