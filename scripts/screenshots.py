"""Screenshots of regate's pages for docs/editor.md and README, taken by the same headless
Chromium the browser tests use:

    .venv/bin/python scripts/screenshots.py

writes docs/screenshots/{explain,diff,coverage,playground,playground-edited}.png.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import QUALITY_GATES, REQUESTS  # noqa: E402
from tests.editor.conftest import CHROMIUM, CHROMIUM_ARGS, Served  # noqa: E402
from tests.editor.test_reports_browser import GATE  # noqa: E402

OUT = REPO / "docs" / "screenshots"


def regate(*arguments: str) -> str:
    done = subprocess.run(["regate", *arguments], capture_output=True, text=True, check=False)
    return done.stdout


def shoot(page: Page, html: str, path: Path, name: str) -> None:
    path.write_text(html)
    page.goto(path.as_uri())
    page.screenshot(path=OUT / f"{name}.png", full_page=True)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
        work = Path(scratch)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 700}, java_script_enabled=False)
        bundle = work / "bundle.tar.gz"
        regate("build", str(QUALITY_GATES), "-o", str(bundle))
        request = str(REQUESTS / "01-coverage-70.json")
        explained = regate(
            "explain", "--bundle", str(bundle), "--input", request, "--format", "html"
        )
        shoot(page, explained, work / "explain.html", "explain")
        new = work / "new"
        shutil.copytree(QUALITY_GATES, new)
        policies = new / "policies.rg"
        text = policies.read_text().replace('{"$gte": 80}', '{"$gte": 70}')
        policies.write_text(text.replace('{"$eq": 0}', '{"$lte": 1}'))
        diffed = regate(
            "diff", str(QUALITY_GATES), str(new), "--requests", str(REQUESTS), "--format", "html"
        )
        shoot(page, diffed, work / "diff.html", "diff")
        project = work / "project"
        project.mkdir()
        (project / "gate.rg").write_text(GATE)
        covered = regate("test", "--coverage", "--format", "html", str(project))
        shoot(page, covered, work / "coverage.html", "coverage")

        server = Served()
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(server.url)
            page.screenshot(path=OUT / "playground.png")
            editor = page.get_by_role("textbox", name="policies.rg")
            editor.fill(editor.input_value().replace('{"$gte": 80}', '{"$gte": 60}'))
            page.locator("#decision-body .headline").filter(has_text="Approved").wait_for()
            decision = page.get_by_role("region", name="decision")
            decision.screenshot(path=OUT / "playground-edited.png")
        finally:
            server.stop()
        browser.close()
    for png in sorted(OUT.glob("*.png")):
        print(png.relative_to(REPO), png.stat().st_size)


if __name__ == "__main__":
    main()
