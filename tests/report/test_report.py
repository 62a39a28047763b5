"""write_report: pareto.png, report.html, pareto.csv, pareto.json."""

from __future__ import annotations

import csv
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import matplotlib.image
import pytest

from blocknas.report import load_run_data, write_report
from blocknas.report.plots import plot_pareto

from .factory import make_run
from .test_baselines import fake_train


class _Tags(HTMLParser):
    """Tags of a page; script bodies are not parsed as markup."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith("#"):
                self.refs.append(f"{tag} {name}={value}")


def _external_references(page: str) -> list[str]:
    parser = _Tags()
    parser.feed(page)
    return parser.refs


@pytest.fixture(scope="module")
def reported(run_3d: Path, zoo: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = tmp_path_factory.mktemp("report")
    return write_report(run_3d, zoo=zoo, out_dir=out, latency=False, max_params=2000)


def test_all_files_are_written(reported: Any) -> None:
    for path in (reported.html, reported.png, reported.csv, reported.json):
        assert path.is_file() and path.stat().st_size > 0
    image = matplotlib.image.imread(reported.png)
    assert image.shape[0] > 300 and image.shape[1] > 900


def test_png_has_a_panel_per_size_objective_and_hypervolume(run_3d: Path, zoo: Path) -> None:
    run = load_run_data(run_3d)
    fig = plot_pareto(run, [])
    visible = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    assert [ax.get_xlabel() for ax in visible] == [
        "parameters",
        "MACs",
        "minutes since the search started",
    ]
    assert visible[0].get_xscale() == "log"
    front_line = [ln for ln in visible[0].get_lines() if ln.get_label() == "Pareto front"]
    assert len(front_line) == 1
    labels = visible[0].get_legend_handles_labels()[1]
    assert "stopped early" in labels and "constraint violated" in labels


def test_html_is_self_contained_with_plots_tables_and_hover(run_3d: Path, reported: Any) -> None:
    page = reported.html.read_text()
    assert _external_references(page) == []
    assert "Plotly.newPlot" in page or "Plotly.react" in page
    for div in ("plot-params", "plot-macs", "plot-hypervolume"):
        assert f'id="{div}"' in page
    run = load_run_data(run_3d)
    table = page[page.index('id="pareto-table"') :]
    table = table[: table.index("</table>")]
    assert table.count("<tr>") == len(run.front()) + 1  # header + one row per member
    # Hover text carries each trial's architecture.
    some = run.completed()[0]
    assert some.architecture.splitlines()[0] in page
    assert 'id="picks-table"' in page and 'id="baselines-table"' in page
    assert '"name":"stopped early"' in page and "2 pruned" in page
    assert len(page) < 8_000_000


def test_csv_and_json_list_the_front(run_3d: Path, reported: Any) -> None:
    run = load_run_data(run_3d)
    rows = list(csv.DictReader(reported.csv.open()))
    assert [int(r["number"]) for r in rows] == sorted(t.number for t in run.front())
    assert list(rows[0]) == ["number", "accuracy", "params", "macs", "latency_ms",
                             "test_accuracy", "model_yaml"]  # fmt: skip
    for r in rows:
        assert (run_3d / r["model_yaml"]).is_file()
        assert float(r["accuracy"]) == run.trial(int(r["number"])).values["accuracy"]
    data = json.loads(reported.json.read_text())
    assert [f["number"] for f in data["front"]] == [int(r["number"]) for r in rows]
    assert {p["kind"] for p in data["picks"]} == {"best-accuracy", "knee", "max-params"}
    assert len(data["hypervolume"]) == len(run.completed())
    assert any("size only" in n for n in data["notes"])


def test_trained_baselines_enable_smallest_within(tmp_path: Path, zoo: Path) -> None:
    run_dir = make_run(tmp_path / "run", n_trials=10, pruned=0, failed=0)
    files = write_report(run_dir, zoo=zoo, train_baselines=True, latency=False, reference="wide",
                         train_fn=fake_train(0.80, []))  # fmt: skip
    kinds = {p.kind: p for p in files.picks}
    assert "smallest-within" in kinds
    pick = kinds["smallest-within"]
    assert pick.accuracy is not None and pick.accuracy >= 0.80 - 0.01
    assert pick.ratios is not None and pick.ratios.baseline == "wide"
    page = files.html.read_text()
    assert re.search(r"wide</td><td>[\d,]+</td><td>[\d,]+</td><td>–</td><td>0\.8000", page)
    assert not any("size only" in n for n in files.notes)


def test_an_empty_study_still_reports(tmp_path: Path) -> None:
    run_dir = make_run(tmp_path / "run", n_trials=2, pruned=1, failed=1)
    files = write_report(run_dir, zoo=tmp_path / "run", latency=False)
    assert files.picks == () and files.html.is_file()
    assert json.loads(files.json.read_text())["front"] == []
