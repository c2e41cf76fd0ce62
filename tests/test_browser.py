"""The ``--html`` report in a real browser: headless Chromium loads it without errors, the DOM it
built holds the table with its highlights, and a screenshot shows them (kept as an artifact
in ``test-artifacts/``, or ``$SHAPETRACE_TEST_ARTIFACTS``).

Needs the Debian package ``chromium`` (``.ci/run`` installs it); skipped, saying so, without it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium)"
    ),
]

# Flags for a quiet, offline, throw-away browser (no sandbox: CI runs as root in a container).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--enable-logging=stderr",
    "--v=0",
)
# rich's export colours: the terminal's yellow (a channel change) and red (the break).
YELLOW, RED = (0x80, 0x80, 0x00), (0x80, 0x00, 0x00)


def artifacts() -> Path:
    folder = Path(os.environ.get("SHAPETRACE_TEST_ARTIFACTS") or ROOT / "test-artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def chromium(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )


def page_errors(stderr: str) -> list[str]:
    """What the page itself logged or failed to load (not Chromium's own start-up noise: D-Bus…)."""
    return [
        line
        for line in stderr.splitlines()
        if re.search(r"CONSOLE\(|Uncaught|net::ERR_|Failed to load resource", line)
    ]


class _StyledCells(HTMLParser):
    """(style, text) of every styled span in the report."""

    def __init__(self) -> None:
        super().__init__()
        self.cells: list[tuple[str, str]] = []
        self._style: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "span":
            self._style.append(dict(attrs).get("style") or "")

    def handle_endtag(self, tag):
        if tag == "span" and self._style:
            self._style.pop()

    def handle_data(self, data):
        self.text.append(data)
        if self._style:
            self.cells.append((self._style[-1], data.strip()))


def styled(dom: str) -> _StyledCells:
    parser = _StyledCells()
    parser.feed(dom)
    return parser


def colour_pixels(png: Path, colour: tuple[int, int, int], tolerance: int = 24) -> int:
    image = Image.open(png).convert("RGB")
    return sum(all(abs(a - b) <= tolerance for a, b in zip(pixel, colour)) for pixel in image.getdata())


@pytest.mark.parametrize(
    "name, args, exit_code, highlighted, colour",
    [
        (
            "efficientnetb0_gray",
            ["efficientnetb0", "--channels", "1", "--size", "64x64", "--changes-only"],
            0,
            "efficientnetb0/normalization",
            YELLOW,
        ),
        (
            "resnet50_gray_break",
            ["resnet50", "--channels", "1", "--size", "64x64"],
            1,
            "resnet50/conv1_conv",
            RED,
        ),
    ],
)
def test_html_report_in_chromium(name, args, exit_code, highlighted, colour, tmp_path, cli):
    page = tmp_path / f"{name}.html"
    code, _, err = cli(*args, "--html", page)
    assert code == exit_code, err

    dumped = chromium(page, tmp_path, "--dump-dom")
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    assert not page_errors(dumped.stderr), page_errors(dumped.stderr)
    dom = styled(dumped.stdout)
    text = "".join(dom.text)
    assert "Verdict:" in text and "┃ layer" in text.replace("┃  ", "┃ ")  # the table and what follows it
    # The highlighted row, cell by cell, in the highlight's colour and bold.
    hex_colour = "#{:02x}{:02x}{:02x}".format(*colour)
    row = [cell for style, cell in dom.cells if hex_colour in style and "font-weight: bold" in style]
    assert highlighted in row, row[:20]

    shot = artifacts() / f"{name}.png"
    shot.unlink(missing_ok=True)
    taken = chromium(page, tmp_path, f"--screenshot={shot}", "--window-size=1600,900")
    assert taken.returncode == 0 and shot.exists(), taken.stderr[-2000:]
    # Seen, not just present in the DOM: the highlight colour covers a visible area of the page.
    assert colour_pixels(shot, colour) > 500
