"""``blocknas search``: bad inputs are one line and exit status 2; a tiny search runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from _search_helpers import tiny

from blocknas.cli import main


def _write(tmp_path: Path, raw: dict[str, Any]) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: ")
    return err[0]


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: no such file" in _one_error_line(capsys)


def test_bad_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = tiny()
    raw["space"]["stages"]["nc"] = {"Conv": {"kernal": 3}}
    assert main(["search", str(_write(tmp_path, raw))]) == 2
    line = _one_error_line(capsys)
    assert "s.yaml" in line and "kernal" in line


def test_unknown_sampler(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", str(_write(tmp_path, tiny(sampler="annealing")))]) == 2
    assert "unknown sampler 'annealing'" in _one_error_line(capsys)


@pytest.mark.parametrize(
    ("option", "message"),
    [(["--n-jobs", "0"], "--n-jobs"), (["--storage", "oracle://x/y"], "unsupported storage")],
)
def test_bad_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: list[str], message: str
) -> None:
    out = tmp_path / "run"
    assert main(["search", str(_write(tmp_path, tiny())), "--out", str(out), *option]) == 2
    assert message in _one_error_line(capsys)


def test_resume_without_a_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["search", str(_write(tmp_path, tiny())), "--out", str(out), "--resume"]) == 2
    assert "--resume" in _one_error_line(capsys)


def test_a_tiny_search_prints_lines_and_where_its_results_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    code = main(["search", str(_write(tmp_path, tiny())), "--out", str(out), "--n-trials", "2",
                 "--no-report"])  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "trial    0" in text and "trial    1" in text and "Pareto front" in text
    assert f"{out / 'pareto.csv'}" in text.splitlines()[-1]
