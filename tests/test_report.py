"""`facelake report`: one self-contained HTML file that a real headless Chromium renders
with every image loaded and no console error."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from jobs import report

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]


@pytest.fixture(scope="module")
def report_file(clean_ingest, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert report.main(["--lake", str(clean_ingest.lake), "--out", str(out)]) == 0
    return out


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed here (apt-get install chromium)")
    return path


def test_report_holds_every_section_and_only_inline_images(report_file, sample):
    html = report_file.read_text()
    for heading in (
        "Detection per video",
        "Lost frames",
        "Storage",
        "Sharpness",
        "Aligned faces by label and attack type",
        "videos that lost the most frames",
        "video_detection:",
    ):
        assert heading in html
    sources = re.findall(r"<img [^>]*src='([^']*)'", html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    # one contact sheet per (label, attack type) present in the sample, plus one strip per worst video
    groups = {(v.label, v.attack_type) for v in sample.manifest.videos}
    assert len(sources) == len(groups) + report_module_worst()
    assert "http://" not in html and "https://" not in html  # nothing fetched from outside


def report_module_worst() -> int:
    from etl.report.contents import WORST_VIDEOS

    return WORST_VIDEOS


def test_report_renders_in_headless_chromium(report_file, tmp_path):
    browser = chromium()
    result = subprocess.run(
        [
            browser,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            report_file.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    images = len(re.findall(r"<img ", report_file.read_text()))
    assert f'data-images="{images}/{images}"' in result.stdout
    console = [line for line in result.stderr.splitlines() if "CONSOLE" in line]
    assert console == []


def test_report_refuses_a_non_html_name(clean_ingest, tmp_path, caplog):
    assert report.main(["--lake", str(clean_ingest.lake), "--out", str(tmp_path / "report.pdf")]) == 2
    assert "ending in .html" in caplog.text
    assert not (tmp_path / "report.pdf").exists()
