"""``blocknas inspect``: the table, and one clear line for every kind of bad config."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torchvision

from blocknas.cli import main

ZOO = Path(__file__).resolve().parents[2] / "configs" / "models"

GOOD = "input_channel: 3\ndepth_multiple: 1.0\nwidth_multiple: 1.0\nbackbone:\n"

# (case, file text, expected fragment of the message, row named in it or None)
BAD_CONFIGS = [
    ("unknown block", GOOD + "  - [1, nn.Conv2d, [16, 3, 1]]\n", "unknown block 'nn.Conv2d'; known blocks: AvgPool", 0),
    ("too few args", GOOD + "  - [1, Conv, [16, 3]]\n  - [2, Conv, [16, 3]]\n", "needs at least 3 arguments", 1),
    ("too many args", GOOD + "  - [1, InvertedResidualv2, [16, 6, 1, 3]]\n", "takes at most 3 arguments", 0),
    ("wrong type", GOOD + "  - [1, Conv, [16, '3', 1]]\n", "argument 'kernel' = '3'", 0),
    ("zero channels", GOOD + "  - [1, Conv, {out: 0, kernel: 3}]\n", "argument 'out' = 0: input should be greater than 0", 0),
    ("negative channels", GOOD + "  - [1, Fire, [-4, 8, 8]]\n", "argument 'squeeze' = -4", 0),
    ("shrinks below 1x1", GOOD + "  - [1, MaxPool, [2, 2, False]]\n" * 6,
     "the feature map shrinks below 1×1 (1×1 → 0×0) for input size 32", 5),
    ("missing key", "input_channel: 3\n", "missing key 'backbone'", None),
    ("non-list backbone", "input_channel: 3\nbackbone: {a: 1}\n", "'backbone' must be a non-empty list", None),
    ("row not a triple", GOOD + "  - [1, Conv]\n", "expected [repeat, Module, args]", 0),
    ("bad repeat", GOOD + "  - [x, Conv, [16, 3, 1]]\n", "repeat must be a non-negative integer", 0),
    ("unknown argument", GOOD + "  - [1, Conv, {out: 8, kernal: 3}]\n", "unknown argument 'kernal'", 0),
    ("unknown activation", GOOD + "  - [1, Conv, [16, 3, 1, null, 1, Relu]]\n", "unknown activation 'Relu'", 0),
    ("bad stride", GOOD + "  - [1, InvertedResidualv2, [16, 6, 3]]\n", "argument 'stride' = 3", 0),
    ("bad groups", GOOD + "  - [1, Conv, {out: 10, kernel: 3, groups: 4}]\n", "groups 4 must divide", 0),
    ("unknown top-level key", GOOD.replace("input_channel", "input_channels") + "  - [1, Conv, [8, 3]]\n",
     "unknown key 'input_channels'", None),
    ("bad width", GOOD.replace("width_multiple: 1.0", "width_multiple: -1") + "  - [1, Conv, [8, 3]]\n",
     "'width_multiple' must be a positive number", None),
    ("invalid yaml", "input_channel: [3\n", "at line", None),
    ("not a mapping", "- 1\n- 2\n", "must be a mapping", None),
    ("flatten on a map", GOOD + "  - [1, Conv, [8, 3]]\n  - [1, Flatten, []]\n", "add GlobalAvgPool", 1),
    ("empty IR row", GOOD + "  - [0, InvertedResidualv2, [16, 6, 1]]\n", "repeat 0 builds no", 0),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "text", "fragment", "row"), BAD_CONFIGS, ids=[c[0] for c in BAD_CONFIGS]
)
def test_bad_config_gives_one_line_and_exit_2(
    case: str, text: str, fragment: str, row: int | None, tmp_path: Path, capsys
) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(text)
    code = main(["inspect", str(path), "--no-latency"])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {path}: ")
    assert fragment in lines[0]
    if row is not None:
        assert f"backbone row {row}: " in lines[0]
    assert "Traceback" not in err


def test_missing_file(capsys) -> None:
    assert main(["inspect", "no/such/model.yaml"]) == 2
    assert capsys.readouterr().err.strip() == "error: no/such/model.yaml: no such file"


def test_inspect_mobilenetv2_prints_rows_and_torchvision_total(capsys) -> None:
    code = main(["inspect", str(ZOO / "mobilenetv2.yaml"), "--num-classes", "10", "--no-latency"])
    out = capsys.readouterr().out
    assert code == 0
    expected = sum(p.numel() for p in torchvision.models.mobilenet_v2(num_classes=10).parameters())
    assert f"total params: {expected:,}" in out
    for fragment in ("InvertedResidualv2", "32 → 16", "112×112", "total MACs"):
        assert fragment in out


def test_inspect_warns_on_reference_quirks(tmp_path: Path, capsys) -> None:
    path = tmp_path / "ref.yaml"
    path.write_text(
        GOOD
        + "  - [1, Conv, [16, 3, 2]]\n  - [1, Conv, [16, 3, 1]]\n  - [1, Conv, [16, 3, 1]]\n  - [1, MBConv, [1, 24, 1, 3]]\n"
    )
    assert main(["inspect", str(path), "--no-latency"]) == 0
    err = capsys.readouterr().err
    assert (
        "warning: row 3 MBConv: channel argument 24 ignored (reference semantics); "
        "output has 8 channels" in err
    )


def test_console_script_exit_code_and_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD + "  - [1, Nope, []]\n")
    proc = subprocess.run(
        [sys.executable, "-m", "blocknas", "inspect", str(path)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "unknown block 'Nope'" in proc.stderr
    assert "Traceback" not in proc.stderr


MBCONV_FILE = GOOD + "  - [1, Conv, [16, 3, 2]]\n  - [1, MBConv, [6, 24, 2, 3]]\n"


def test_inspect_names_the_mbconv_variant_and_how_to_switch(tmp_path: Path, capsys) -> None:
    path = tmp_path / "effnet.yaml"
    path.write_text(MBCONV_FILE)
    assert main(["inspect", str(path), "--no-latency"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].startswith(
        "MBConv reference rows follow mbconv_variant: template"
    )
    assert "16 → 8" in captured.out  # 6 (t) → make_divisible(6) = 8 channels
    warning = [line for line in captured.err.splitlines() if "row 1 MBConv" in line]
    assert len(warning) == 1
    assert "'mbconv_variant: channels'" in warning[0]
    assert "--mbconv-variant channels" in warning[0]


def test_inspect_option_overrides_the_file_key(tmp_path: Path, capsys) -> None:
    path = tmp_path / "effnet.yaml"
    path.write_text(MBCONV_FILE.replace("backbone:", "mbconv_variant: template\nbackbone:"))
    assert main(["inspect", str(path), "--no-latency", "--mbconv-variant", "channels"]) == 0
    captured = capsys.readouterr()
    assert "MBConv reference rows follow mbconv_variant: channels" in captured.out
    assert "16 → 24" in captured.out
    assert "ignored" not in captured.err


def test_inspect_without_mbconv_rows_names_no_variant(tmp_path: Path, capsys) -> None:
    path = tmp_path / "plain.yaml"
    path.write_text(GOOD + "  - [1, Conv, [16, 3, 2]]\n  - [1, MBConv, {expand: 6, out: 24}]\n")
    assert main(["inspect", str(path), "--no-latency"]) == 0
    assert "mbconv_variant" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "argv", "fragment"),
    [(MBCONV_FILE.replace("backbone:", "mbconv_variant: fork\nbackbone:"), [],
      "'mbconv_variant' must be one of 'template', 'channels', got 'fork'"),
     (MBCONV_FILE, ["--mbconv-variant", "fork"],
      "--mbconv-variant must be one of 'template', 'channels', got 'fork'"),
     (GOOD + "  - [1, MaxPool, [3, 2, True, 1]]\n", [], "a bool third argument is read as ceil_mode")],
)  # fmt: skip
def test_bad_variant_or_pool_row_is_one_line(
    text: str, argv: list[str], fragment: str, tmp_path: Path, capsys
) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(text)
    assert main(["inspect", str(path), "--no-latency", *argv]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ")
    assert fragment in err and "Traceback" not in err


def test_inspect_reads_pool_third_argument_like_torch(tmp_path: Path, capsys) -> None:
    path = tmp_path / "pool.yaml"
    path.write_text(
        GOOD + "  - [1, Conv, [8, 3, 1]]\n  - [1, MaxPool, [3, 2, 1]]\n"
        "  - [1, MaxPool, [2, 2, True]]\n  - [1, AvgPool, [2]]\n"
    )
    assert main(["inspect", str(path), "--no-latency", "--input-size", "15"]) == 0
    captured = capsys.readouterr()
    # 15 → MaxPool(3, 2, padding 1) 8 → MaxPool(2, 2, ceil_mode) 4 → AvgPool(2) 2
    for fragment in ("padding=1", "8×8", "ceil_mode=True", "4×4", "2×2"):
        assert fragment in captured.out
    assert (
        "warning: row 2 MaxPool: third argument True read as ceil_mode "
        "([kernel, stride, ceil_mode]); padding 0" in captured.err
    )
    assert "row 1 MaxPool" not in captured.err and "row 3 AvgPool" not in captured.err
