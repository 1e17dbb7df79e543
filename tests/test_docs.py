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
    for page in ("index.html", "tutorial/index.html", "concepts/vma/index.html",
                 "threads/index.html", "scenarios/index.html", "cli/index.html",
                 "validation/index.html", "figures/layout-32-64.svg"):
        assert (site / page).exists(), page
    cli = (site / "cli" / "index.html").read_text()
    for command in ("replay", "threads", "run", "compare", "layout", "plot"):
        assert f"vasim {command}" in cli


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
