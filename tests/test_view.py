"""`vasim view` in a real browser: Debian's chromium, driven by playwright.

The tests open the written HTML file from disk, block every network request (the page must
need none), and use it as a reader would: hover, click, wheel, keys, search, the step slider.
Without playwright or /usr/bin/chromium they skip with the reason; with VASIM_REQUIRE_BROWSER=1
(set by .ci/run, which installs both) they fail instead.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from simulator.cli import main

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
SCENARIO = Path(__file__).parent.parent / "scenarios" / "growsdown-guard-gap.toml"


def _unavailable(reason: str):
    if os.environ.get("VASIM_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install '.[test]')")
    if not os.path.exists(CHROMIUM):
        _unavailable("no chromium (Debian: apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def open_view(browser, tmp_path):
    pages = []

    def opener(*argv):
        out = tmp_path / "view.html"
        assert main(["view", *argv, "-o", str(out)]) == 0
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        requests, errors = [], []
        page.route("**/*", lambda route: (requests.append(route.request.url),
                                          route.abort() if not route.request.url.startswith("file:")
                                          else route.continue_()))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(out.as_uri())
        page.wait_for_selector("g.region")
        pages.append((page, requests, errors))
        return page

    yield opener
    for page, requests, errors in pages:
        assert [r for r in requests if not r.startswith("file:")] == [], "the page fetched"
        assert errors == []
        page.close()


def shown(page, column: int) -> tuple[int, int]:
    el = page.locator(f"#range-{column}")
    return int(el.get_attribute("data-lo"), 16), int(el.get_attribute("data-hi"), 16)


def test_columns_side_by_side_zoomed_out(open_view):
    page = open_view("--arch", "i686,x86_64")
    assert page.locator("section.column h2").all_inner_texts() == ["i686", "x86_64"]
    # Zoomed out, each column shows its whole axis: 4 GiB for a 32-bit process, the lower
    # half of the 48-bit space (2^47) for a 64-bit one.
    assert shown(page, 0) == (0, 1 << 32)
    assert shown(page, 1) == (0, 1 << 47)
    assert page.locator("#steps").is_hidden()


def test_hover_shows_the_maps_lines_and_the_explain_label(open_view):
    page = open_view("--arch", "i686")
    libc = page.locator("g.region[aria-label^='libc.so.6']").first
    libc.hover()
    tip = page.locator("#tip")
    assert tip.is_visible()
    text = tip.inner_text()
    assert "/lib/i386-linux-gnu/libc.so.6" in text or "libc.so.6" in text
    assert "r-xp" in text and "library: libc.so.6" in text


def test_click_zooms_to_a_region_and_zero_zooms_out(open_view):
    page = open_view("--arch", "x86_64")
    stack = page.locator("g.region[aria-label^='[stack]']").first
    start, end = (int(stack.get_attribute(a), 16) for a in ("data-start", "data-end"))
    stack.click()
    lo, hi = shown(page, 0)
    assert lo <= start and end <= hi
    assert hi - lo < 2 * (end - start)
    page.locator("svg").first.focus()
    page.keyboard.press("0")
    assert shown(page, 0) == (0, 1 << 47)


def test_wheel_and_keys_zoom_and_pan(open_view):
    page = open_view("--arch", "i686")
    svg = page.locator("svg[data-column='0']")
    box = svg.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -600)
    lo, hi = shown(page, 0)
    assert hi - lo < 1 << 32
    svg.focus()
    page.keyboard.press("+")
    lo2, hi2 = shown(page, 0)
    assert hi2 - lo2 < hi - lo
    page.keyboard.press("ArrowUp")
    lo3, hi3 = shown(page, 0)
    assert lo3 > lo2 and hi3 > hi2


def test_search_by_name_and_by_address(open_view):
    page = open_view("--arch", "i686,x86_64")
    stack = page.locator("svg[data-column='0'] g.region[aria-label^='[stack]']").first
    inside = int(stack.get_attribute("data-start"), 16) + 0x10
    page.fill("#search", "ld-linux")
    assert page.locator("#found").inner_text() == "2 regions match"
    assert page.locator("g.region.hit").count() == 2
    page.fill("#search", hex(inside))
    lo, hi = shown(page, 0)
    assert lo <= inside < hi and hi - lo < 1 << 24


def test_keyboard_only(open_view):
    page = open_view("--arch", "i686")
    region = page.locator("g.region[aria-label^='ld-linux.so.2']").first
    region.focus()
    assert page.locator("#tip").is_visible()
    page.keyboard.press("Enter")
    start, end = (int(region.get_attribute(a), 16) for a in ("data-start", "data-end"))
    lo, hi = shown(page, 0)
    assert lo <= start and end <= hi and hi - lo < 2 * (end - start)


def test_scenario_steps_slider(open_view):
    page = open_view(str(SCENARIO))
    slider = page.locator("#step")
    assert page.locator("#steps").is_visible()
    steps = int(slider.get_attribute("max"))
    assert steps >= 10
    last = page.locator("svg[data-column='0'] g.region").count()
    slider.fill("0")
    assert page.locator("#step-label").inner_text().startswith("0 of")
    first = page.locator("svg[data-column='0'] g.region").count()
    assert first < last
    # The last step is the refused growth: its event is listed, and marked on the slider.
    slider.fill(str(steps))
    assert "SIGSEGV" in page.locator("#events").inner_text()
    marks = page.locator("#step-marks option").evaluate_all("os => os.map(o => o.value)")
    assert str(steps) in marks


def test_legend_tells_kinds_apart_without_colour(open_view):
    """Every kind in the legend has its own hatching or lightness: greyscale keeps them."""
    page = open_view("--arch", "i686")
    keys = page.locator("#legend .key").count()
    assert keys >= 6
    from simulator.plot.style import KINDS, luminance
    looks = {(s.hatch, round(luminance(s.fill), 2)) for s in KINDS.values()}
    assert len(looks) == len(KINDS)
