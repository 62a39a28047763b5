"""``blocknas worker`` refuses what it must not run before it claims any trial."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from blocknas.cli import main
from blocknas.search import create_search_study, load_search_config

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "search" / "digits.yaml"


def _study(tmp_path: Path, *, hook: str | None = None) -> str:
    cfg = load_search_config(CONFIG)
    if hook is not None:
        (tmp_path / "extra.py").write_text("def extra(trial, candidate):\n    return candidate\n")
        path = tmp_path / "search.yaml"
        path.write_text(CONFIG.read_text() + f"\nhook: {hook}\n")
        cfg = load_search_config(path)
    url = f"sqlite:///{tmp_path / 'study.db'}"
    create_search_study(cfg, storage=url, study_name="s", n_trials=2, deadline=None)
    return url


def _trial_count(url: str) -> int:
    return len(optuna.load_study(study_name="s", storage=url).trials)


@pytest.mark.parametrize("device", ["banana", "cuda:7", "tpu"])
def test_bad_device_is_one_line_and_claims_nothing(tmp_path: Path, device: str, capsys) -> None:
    url = _study(tmp_path)
    code = main(["worker", "--storage", url, "--study", "s", "--device", device])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: device")
    assert _trial_count(url) == 0


def test_a_hook_stored_in_the_database_is_not_run_without_opt_in(tmp_path: Path, capsys) -> None:
    url = _study(tmp_path, hook="extra.py:extra")
    code = main(["worker", "--storage", url, "--study", "s"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--allow-hook" in err[0]
    assert _trial_count(url) == 0
