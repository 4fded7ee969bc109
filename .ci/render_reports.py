"""CI: render each report kind in headless Chromium and fail on a blank page, a missing chart
or a console message (the pages have no scripts, so any console output is an error).

Usage: python .ci/render_reports.py LOG_DIR REPORT.html [REPORT.html ...]
Screenshots are written to LOG_DIR/<report>.png; Chromium's log to LOG_DIR/<report>.log.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image

CHART_COLOURS = {"AFD": (31, 119, 180), "EP": (255, 127, 14)}  # matplotlib tab:blue, tab:orange
MIN_CHART_PIXELS = 100
"""Pixels of each architecture's colour a page with its charts shows at 1280 px (a frontier
line alone gives over 100)."""


def browser() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    sys.exit("render: no Chromium found (apt-get install -y chromium)")


def render(exe: str, page: Path, log_dir: Path) -> list[str]:
    shot = log_dir / f"{page.stem}.png"
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        proc = subprocess.run(
            [exe, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
             f"--screenshot={shot}", "--window-size=1280,4000", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    (log_dir / f"{page.stem}.log").write_text(proc.stdout + proc.stderr)
    problems = []
    if proc.returncode != 0:
        problems.append(f"chromium exited {proc.returncode}")
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    problems += [f"console: {ln.strip()}" for ln in console]
    if not shot.exists():
        return [*problems, "no screenshot"]
    img = Image.open(shot).convert("RGB")
    colours = img.getcolors(maxcolors=1 << 24) or []
    if len(colours) < 50:
        problems.append(f"blank page ({len(colours)} colours)")
    counts = {rgb: n for n, rgb in colours}
    for arch, rgb in CHART_COLOURS.items():
        if counts.get(rgb, 0) < MIN_CHART_PIXELS:
            problems.append(f"missing chart: {counts.get(rgb, 0)} pixels of {arch}'s colour")
    return problems


def main() -> int:
    log_dir = Path(sys.argv[1])
    log_dir.mkdir(parents=True, exist_ok=True)
    exe = browser()
    failed = 0
    for name in sys.argv[2:]:
        problems = render(exe, Path(name), log_dir)
        for p in problems:
            print(f"render {name}: {p}", file=sys.stderr)
        failed += bool(problems)
        print(f"render {name}: {'FAILED' if problems else 'ok'} ({log_dir / Path(name).stem}.png)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
