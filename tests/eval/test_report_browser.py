"""The HTML report in a real headless browser (Debian's Chromium, installed by scripts/install-chromium.sh)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from evalfixtures import make_run_dirs

from armed.eval.report import render_report

REPO = Path(__file__).resolve().parents[2]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


@pytest.fixture(scope="module")
def chromium() -> str:
    if shutil.which("chromium") is None:
        done = subprocess.run(["bash", str(REPO / "scripts" / "install-chromium.sh")], capture_output=True,
                              text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"Chromium is needed for this test and could not be installed: {done.stderr.strip()}")
    path = shutil.which("chromium")
    assert path, "scripts/install-chromium.sh ran but chromium is still not on PATH"
    return path


def _run(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                          text=True, timeout=120)


@pytest.mark.slow  # ~20 s: two Chromium starts
def test_report_renders_in_chromium(chromium, tmp_path):
    runs = make_run_dirs(tmp_path / "runs")
    out = render_report(runs, tmp_path / "report", title="browser check")
    url = Path(out["html"]).resolve().as_uri()
    dom = _run(chromium, tmp_path / "profile", "--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert "<h1>browser check</h1>" in html
    assert html.count('<table class="metrics">') >= 4
    assert html.count('<img class="plot"') == 2
    assert '<table class="samples">' in html and "left pleural effusion" in html
    shot = tmp_path / "shot.png"
    res = _run(chromium, tmp_path / "profile2", "--window-size=1280,2400", f"--screenshot={shot}", url)
    assert res.returncode == 0, res.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1280, 2400)
        colours = im.convert("RGB").resize((64, 120)).getcolors(64 * 120)
    assert colours is not None and len(colours) > 20  # a rendered page, not a blank or error screen
