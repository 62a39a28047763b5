"""report.html in headless Chromium with the network cut off: the plots render (plotly draws its
SVG), the tables are there, and a screenshot is taken. CI installs Debian's chromium package."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import pytest

from blocknas.report import write_report

pytestmark = pytest.mark.browser

_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    # Any request would fail: the page must render from its own bytes.
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
    "--virtual-time-budget=15000",  # lets plotly finish drawing before the dump
]  # fmt: skip


def _chromium() -> str:
    found = os.environ.get("BLOCKNAS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).is_file():
        pytest.skip("headless Chromium not found (apt-get install chromium)")
    return found


def _run(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium, *_FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def test_report_renders_offline(run_3d: Path, zoo: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    files = write_report(run_3d, zoo=zoo, out_dir=tmp_path / "report", latency=False)
    url = files.html.resolve().as_uri()
    dom = _run(chromium, tmp_path / "profile", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    page = dom.stdout
    # Three plots (params, MACs, hypervolume), each rendered by plotly.js into SVG.
    assert page.count('id="plot-') == 3
    assert page.count("js-plotly-plot") >= 3, "plotly.js did not render the plots"
    assert page.count('class="main-svg"') >= 3
    for table in ("pareto-table", "picks-table", "baselines-table"):
        assert f'id="{table}"' in page

    shot = tmp_path / "report.png"
    result = _run(chromium, tmp_path / "profile", "--window-size=1280,1800",
                  f"--screenshot={shot}", url)  # fmt: skip
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    image = matplotlib.image.imread(shot)
    assert image.shape[:2] == (1800, 1280)
    assert image[..., :3].std() > 0.05  # not a blank page
