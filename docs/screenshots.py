"""Screenshots of every chapter of a study's report, for a reviewer who does not run the study.

Run as `make screenshots` (the study `make study` wrote) or
`python docs/screenshots.py STUDY [--out docs/screenshots]`. Opens STUDY/report.html in Debian's
headless Chromium at 1280 px and writes one PNG per chapter, the whole chapter from its heading
to the next, named after the chapter (data.png, lab.png, ...), plus index.md listing them with the
report's subtitle and date, so a screenshot says which study it shows.
"""

from __future__ import annotations

import argparse
import base64
import io
import sys
from pathlib import Path

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
WIDTH = 1280
MARGIN = 16  # px of page either side of a chapter
COLOURS = 256  # a palette PNG: the report is text, tables and grey-scale slices


def chapter_boxes(driver: webdriver.Chrome) -> list[dict[str, float | str]]:
    """Each chapter's id, title and box in page coordinates."""
    return driver.execute_script(  # type: ignore[no-any-return]
        "return [...document.querySelectorAll('section')].map(s => {"
        "const r = s.getBoundingClientRect();"
        "return {key: s.id, title: s.querySelector('h2').innerText,"
        "x: r.left + scrollX, y: r.top + scrollY, width: r.width, height: r.height}})"
    )


def capture(driver: webdriver.Chrome, box: dict[str, float | str]) -> Image.Image:
    """The page region `box`, beyond the window if need be (Chrome DevTools' clip)."""
    clip = {k: float(box[k]) for k in ("x", "y", "width", "height")}
    clip["x"], clip["width"] = clip["x"] - MARGIN, clip["width"] + 2 * MARGIN
    shot = driver.execute_cdp_cmd(
        "Page.captureScreenshot",
        {"format": "png", "clip": {**clip, "scale": 1}, "captureBeyondViewport": True},
    )
    return Image.open(io.BytesIO(base64.b64decode(shot["data"])))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path, help="a study folder (with report.html)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "screenshots")
    args = parser.parse_args(argv)
    report = args.study / "report.html"
    if not report.is_file():
        print(f"{report}: no report here; run `make study` first", file=sys.stderr)
        return 2
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        print("needs Debian's chromium and chromium-driver (apt-get install ...)", file=sys.stderr)
        return 2
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", f"--window-size={WIDTH},1000"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        driver.get(report.resolve().as_uri())
        driver.execute_async_script(  # lazy images load as a reader scrolls; load them all now
            "const done = arguments[arguments.length - 1];"
            "Promise.all([...document.images].map(i => { i.loading = 'eager';"
            " return i.decode().catch(() => null); })).then(() => done(null));"
        )
        # No scroll bar: the capture beyond the window drops it, which would move the layout.
        driver.execute_script("document.documentElement.style.overflow = 'hidden'")
        written = driver.execute_script(
            "return [...document.querySelectorAll('.subtitle, .written')]"
            ".map(p => p.innerText).join('; ')"
        )
        args.out.mkdir(parents=True, exist_ok=True)
        source = f"{args.study.name}/report.html"
        lines = [f"# The report, chapter by chapter\n\nFrom `{source}`: {written}.\n"]
        for box in chapter_boxes(driver):
            name = f"{box['key']}.png"
            image = capture(driver, box).convert("RGB").quantize(COLOURS)
            image.save(args.out / name, optimize=True)
            lines.append(f"## {box['title']}\n\n![{box['title']}]({name})\n")
            print(f"wrote {args.out / name} ({image.width} x {image.height})")
    finally:
        driver.quit()
    (args.out / "index.md").write_text("\n".join(lines), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
