"""The one YAML reader: duplicate keys, oversized files and alias bombs are one-line errors."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from blocknas._io import read_yaml
from blocknas.cli import main
from blocknas.errors import ConfigError
from blocknas.search import load_search_config

MODEL = """\
input_channel: 3
backbone:
  - [1, Conv, {out: 8, kernel: 3}]
  - [1, GlobalAvgPool, {}]
  - [1, Flatten, {}]
  - [1, Linear, {out: 10}]
"""


def test_a_duplicate_key_in_a_model_is_one_line_naming_file_key_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(MODEL + "input_channel: 1\n")
    assert main(["inspect", str(path), "--no-latency"]) == 2
    assert capsys.readouterr().err == (
        f"error: {path}: invalid YAML: duplicate key 'input_channel' at line 7\n"
    )


def test_a_duplicate_key_inside_a_row_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(MODEL.replace("{out: 8, kernel: 3}", "{out: 8, kernel: 3, out: 16}"))
    with pytest.raises(ConfigError, match=r"duplicate key 'out' at line 3$"):
        read_yaml(path)


def test_a_duplicate_key_in_a_search_config_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "search.yaml"
    path.write_text(
        "name: s\ndata: {dataset: digits}\nspace:\n"
        "  stem: {Conv: {out: 8, kernel: 3}}\n"
        "  head:\n    dropout: 0.1\n    conv: 0\n    dropout: 0.2\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_search_config(path)
    assert str(caught.value) == f"{path}: invalid YAML: duplicate key 'dropout' at line 8"


def test_merge_keys_may_still_override(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("base: &b {lr: 0.1, epochs: 3}\ntrain:\n  <<: *b\n  lr: 0.2\n")
    assert read_yaml(path)["train"] == {"lr": 0.2, "epochs": 3}


def test_a_file_over_the_size_cap_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.yaml"
    filler = "# " + "x" * 1021 + "\n"  # 1 KiB a line
    path.write_text(MODEL + filler * (5 * 1024))  # just over 5 MiB
    start = time.perf_counter()
    with pytest.raises(ConfigError) as caught:
        read_yaml(path)
    assert time.perf_counter() - start < 1
    assert str(caught.value) == (
        f"{path}: the file is {path.stat().st_size:,} bytes, over the limit of 4,194,304 bytes "
        "(4 MiB) for a YAML config; raise it with BLOCKNAS_MAX_YAML_MIB"
    )
    monkeypatch.setenv("BLOCKNAS_MAX_YAML_MIB", "6")
    assert read_yaml(path)["input_channel"] == 3


def test_the_size_cap_holds_in_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(MODEL + "#" * 2000 + "\n")
    monkeypatch.setenv("BLOCKNAS_MAX_YAML_MIB", "0.001")  # 1,048 bytes
    assert main(["inspect", str(path), "--no-latency"]) == 2
    err = capsys.readouterr().err
    size = path.stat().st_size
    assert err.startswith(f"error: {path}: the file is {size:,} bytes, over the limit of 1,048 ")
    assert len(err.strip().splitlines()) == 1
    monkeypatch.setenv("BLOCKNAS_MAX_YAML_MIB", "many")
    assert main(["inspect", str(path), "--no-latency"]) == 2
    assert capsys.readouterr().err == (
        "error: BLOCKNAS_MAX_YAML_MIB must be a positive number of MiB, got 'many'\n"
    )


def test_an_alias_bomb_is_refused(tmp_path: Path) -> None:
    lines = ["a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for i in range(1, 9):  # 10**9 values once expanded, from a few hundred bytes
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n")
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="expands to more than 1,000,000 values"):
        read_yaml(path)
    assert time.perf_counter() - start < 5


def test_a_small_document_with_aliases_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("k: &k [3, 5]\nstem: {kernel: *k}\nnc: {kernel: *k}\n")
    assert read_yaml(path) == {"k": [3, 5], "stem": {"kernel": [3, 5]}, "nc": {"kernel": [3, 5]}}


@pytest.mark.parametrize(
    ("text", "message"),
    [("a: &a [1, *a]\n", "an alias (*name) refers to a value that contains it at line 1"),
     ("[" * 3000 + "]" * 3000 + "\n", "nested too deeply")],
    ids=["recursive alias", "deep nesting"],
)  # fmt: skip
def test_self_reference_and_deep_nesting_are_one_line(
    text: str, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        read_yaml(path)
    assert str(caught.value) == f"{path}: invalid YAML: {message}"


def test_configs_still_parse_as_safe_load_does(tmp_path: Path) -> None:
    text = "a: [1, 2.5, .inf, null, yes, '3']\nb: {c: 2020-01-01, d: !!str 5}\n"
    path = tmp_path / "same.yaml"
    path.write_text(text)
    assert read_yaml(path) == yaml.safe_load(text)


def test_no_python_object_is_ever_constructed(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("a: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        read_yaml(path)
