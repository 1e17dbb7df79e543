"""The documentation: every figure is produced, every page's figure exists, the site builds."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"


def _build_module():
    spec = importlib.util.spec_from_file_location("docs_build", DOCS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One run of the documented command: figures, CLI reference, the mkdocs site."""
    if importlib.util.find_spec("mkdocs") is None:
        pytest.skip("mkdocs is not installed (pip install '.[test]')")
    site = tmp_path_factory.mktemp("site")
    result = subprocess.run([sys.executable, str(DOCS / "build.py"), "--site-dir", str(site)],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return site, result.stdout


def test_every_figure_is_produced_as_png_and_svg(built):
    _site, out = built
    module = _build_module()
    for name in module.FIGURES:
        for ext in ("png", "svg"):
            path = DOCS / "figures" / f"{name}.{ext}"
            assert path.exists() and path.stat().st_size > 1000, path
            assert str(path) in out


def test_each_concept_page_has_a_generated_figure(built):
    module = _build_module()
    for page in sorted((DOCS / "concepts").glob("*.md")):
        figures = re.findall(r"\]\(\.\./figures/([\w-]+)\.svg\)", page.read_text())
        assert figures, f"{page.name} has no figure"
        for name in figures:
            assert name in module.FIGURES, f"{page.name}: {name} is not generated"


def test_the_site_builds_with_every_page(built):
    site, _out = built
    for page in ("index.html", "tutorial.html", "concepts/vma.html", "threads.html",
                 "scenarios.html", "cli.html", "validation.html", "explain.html", "view.html",
                 "figures/layout-32-64.svg", "views/layout-32-64.html"):
        assert (site / page).exists(), page
    cli = (site / "cli.html").read_text()
    for command in ("replay", "threads", "run", "compare", "layout", "plot", "explain", "view"):
        assert f"vasim {command}" in cli


def test_every_link_works_opened_from_disk(built):
    """Opened as files (site/index.html), every local link and image goes to a file, never a
    folder (which a browser would show as a directory listing): use_directory_urls is off."""
    site, _out = built
    checked = 0
    for page in site.rglob("*.html"):
        if "views" in page.parts or page.name == "404.html":
            continue
        for target in re.findall(r'(?:href|src)="([^"#?]+)', page.read_text()):
            if re.match(r"[a-z]+:|//", target):
                continue
            path = (page.parent / target).resolve()
            assert path.is_file(), f"{page.relative_to(site)} -> {target}"
            checked += 1
    assert checked > 100


def test_interactive_views_are_written_and_self_contained(built):
    module = _build_module()
    site, _out = built
    for name in list(module.LAYOUTS) + list(module.TIMELINES):
        text = (site / "views" / f"{name}.html").read_text()
        assert '<script id="vasim-data"' in text
        assert not re.search(r'(?:src|href)="(?:https?:)?//', text), name


def test_figures_are_deterministic(built):
    """The same command gives the same bytes (fixed seeds, no timestamps)."""
    module = _build_module()
    import matplotlib.pyplot as plt
    from simulator import plot
    fig = module.FIGURES["compat"]()
    again = plot.save(fig, str(DOCS.parent / "build-tmp-compat"))
    plt.close(fig)
    try:
        for path in again:
            ext = path.rsplit(".", 1)[1]
            assert Path(path).read_bytes() == (DOCS / "figures" / f"compat.{ext}").read_bytes()
    finally:
        for path in again:
            Path(path).unlink()
