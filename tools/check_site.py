"""Check the built docs site as a reader opening it from disk would, in a real browser.

    python tools/check_site.py site/ --screenshots build/docs-screenshots

For every page of the site (``*.html``) it:

- checks each link and each asset it refers to: a relative link must name a file that
  exists (a link to a folder opens a bare folder listing from disk), an ``#anchor`` an
  element of that page; scripts, stylesheets, images and fonts must be local (the site
  must work without a network);
- opens it from ``file://`` in headless Chromium (Debian's ``chromium`` package) and
  saves a screenshot, once at a desktop width and once at a phone's, and reports what
  the browser's console complains about (a script that fails, a file it cannot load).

It exits 1 when anything is wrong, listing every problem, 0 otherwise. The browser
runs with a fresh profile, no network features and no sandbox (as root in a
container, Chromium's sandbox cannot start).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

# Tags whose URL is an asset the page loads by itself (not a link the reader follows).
_ASSETS = {("script", "src"), ("link", "href"), ("img", "src"), ("source", "src")}
_LINKS = {("a", "href")}
_WIDTHS = {"desktop": 1280, "phone": 412}
_BROWSER_FLAGS = [
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
    "--log-level=0",
    # Lets the page's scripts run (and fail) before the screenshot.
    "--virtual-time-budget=3000",
]
# The browser's console lines: `[...:INFO:CONSOLE:12] "message", source: file:///... (12)`
# (older builds write CONSOLE(12)). A missing file is not logged: the link check sees it.
_CONSOLE = re.compile(r":CONSOLE(?::\d+|\(\d+\))\] (.*)$")


class _Page(HTMLParser):
    """The URLs a page refers to, and the ids it defines."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.assets: list[str] = []
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name"):
                self.ids.add(value)
            if (tag, name) in _ASSETS:
                # A <link> to a page (rel=canonical, prev, next) is a link, not an asset.
                rel = dict(attrs).get("rel") or ""
                if tag == "link" and not {"stylesheet", "icon", "preload", "manifest"} & set(
                    rel.split()
                ):
                    self.links.append(value)
                else:
                    self.assets.append(value)
            elif (tag, name) in _LINKS:
                self.links.append(value)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def _pages(site: Path) -> list[Path]:
    # 404.html is for a web server to answer with (its URLs are absolute): from disk,
    # nothing leads to it.
    return sorted(p.resolve() for p in site.rglob("*.html") if p.name != "404.html")


def check_links(site: Path) -> Iterator[str]:
    """Every problem with the links and assets of the site's pages."""
    site = site.resolve()
    parsed = {path: _parse(path) for path in _pages(site)}
    for path, page in parsed.items():
        where = path.relative_to(site)
        for url, is_asset in [(u, True) for u in page.assets] + [(u, False) for u in page.links]:
            parts = urlsplit(url)
            if parts.scheme in ("http", "https") or url.startswith("//"):
                if is_asset:
                    yield f"{where}: loads {url} from the network"
                continue  # a link out of the site: the reader's network, not ours
            if parts.scheme in ("mailto", "data", "javascript"):
                continue
            if parts.scheme:
                yield f"{where}: unexpected URL scheme in {url}"
                continue
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if not target.is_relative_to(site):
                yield f"{where}: {url} points out of the site"
            elif target.is_dir():
                yield f"{where}: {url} is a folder (a bare listing when opened from disk)"
            elif not target.is_file():
                yield f"{where}: {url} is missing"
            elif parts.fragment and target.suffix == ".html":
                ids = parsed[target].ids if target in parsed else _parse(target).ids
                if unquote(parts.fragment) not in ids:
                    yield f"{where}: {url} has no #{parts.fragment} there"


def _browser() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if found is None:
        sys.exit(
            "check_site: needs headless Chromium: apt-get install chromium "
            "(or set CHROMIUM to its path)"
        )
    return found


def screenshot(browser: str, page: Path, out: Path, size: tuple[int, int]) -> list[str]:
    """Open ``page`` from disk, save a screenshot to ``out``; the console's complaints."""
    with tempfile.TemporaryDirectory(prefix="check-site-") as profile:
        done = subprocess.run(
            [
                browser,
                *_BROWSER_FLAGS,
                f"--user-data-dir={profile}",
                f"--window-size={size[0]},{size[1]}",
                f"--screenshot={out}",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    problems = []
    if done.returncode != 0 or not out.is_file():
        problems.append(f"chromium failed ({done.returncode}): {done.stderr[-2000:]}")
    for line in done.stderr.splitlines():
        match = _CONSOLE.search(line)
        if match:
            problems.append(f"console: {match.group(1)}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path, help="the built site (mkdocs build's site/)")
    parser.add_argument(
        "--screenshots", type=Path, required=True, help="folder for the screenshots"
    )
    parser.add_argument(
        "--height", type=int, default=1600, help="of the window, in pixels (default 1600)"
    )
    args = parser.parse_args()
    site: Path = args.site
    if not (site / "index.html").is_file():
        sys.exit(f"check_site: {site}/index.html is missing: build the site first")
    problems = list(check_links(site))
    browser = _browser()
    shots: Path = args.screenshots
    if shots.exists():
        shutil.rmtree(shots)
    shots.mkdir(parents=True)
    for page in _pages(site):
        name = str(page.relative_to(site.resolve()).with_suffix("")).replace(os.sep, "_")
        for device, width in _WIDTHS.items():
            out = shots / f"{name}-{device}.png"
            where = page.relative_to(site.resolve())
            size = (width, args.height)
            problems += [f"{where} ({device}): {p}" for p in screenshot(browser, page, out, size)]
    count = len(list(shots.glob("*.png")))
    print(f"check_site: {len(_pages(site))} pages, {count} screenshots in {shots}")
    for problem in problems:
        print(f"  {problem}")
    if problems:
        print(f"check_site: {len(problems)} problems")
        return 1
    print("check_site: every link and asset resolves on disk; the browser saw no error")
    return 0


if __name__ == "__main__":
    sys.exit(main())
