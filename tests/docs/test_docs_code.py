"""Every ```python block of the documentation runs, page by page.

Each page (``docs/**/*.md`` and ``README.md``) is one test. Its python blocks run in
order in one namespace: a fresh module ``docs_<page>`` registered in ``sys.modules``,
so classes and functions defined on the page pickle like those of any module. A block
preceded by ``<!-- needs: ray -->`` needs Ray: the page then gets the session Ray
fixture (a real local Ray; if it cannot start, the test fails). ``<!-- skip-exec:
reason -->`` is accepted only in front of a non-python block. ``bash``/``console``/
``json``/``text`` blocks are never executed.
"""
from __future__ import annotations

import re
import sys
import traceback
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
_MARKER = re.compile(r"^\s*<!--\s*(?P<kind>needs|skip-exec)\s*:\s*(?P<value>.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced block of a page: where it starts, its language, its markers."""

    page: str
    index: int  # 1-based among the page's python blocks (0 for other languages)
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    needs: frozenset[str]
    skip: str | None

    @property
    def where(self) -> str:
        return f"{self.page}, python block #{self.index} (line {self.line})"


def parse_blocks(text: str, page: str) -> list[Block]:
    """All fenced blocks of ``text``, with the marker comments just above them."""
    lines = text.splitlines()
    blocks: list[Block] = []
    markers: dict[str, str] = {}
    python_index = 0
    i = 0
    while i < len(lines):
        marker = _MARKER.match(lines[i])
        if marker:
            markers[marker["kind"]] = marker["value"]
            i += 1
            continue
        fence = _FENCE.match(lines[i])
        if not fence:
            if lines[i].strip():
                markers = {}
            i += 1
            continue
        indent, ticks = fence["indent"], fence["ticks"]
        lang = (fence["info"].split() or [""])[0].strip("{}.").lower()
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not (lines[i].strip().startswith(ticks)
                                      and lines[i].strip().strip(ticks[0]) == ""):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else
                        lines[i].lstrip())
            i += 1
        if i >= len(lines):
            raise AssertionError(f"{page}: the code fence opened at line {start} is never "
                                 "closed")
        i += 1
        if lang in ("python", "py"):
            python_index += 1
        needs = frozenset(v.strip() for v in markers.get("needs", "").split(",") if v.strip())
        blocks.append(Block(page, python_index if lang in ("python", "py") else 0, start,
                            lang, "\n".join(body) + "\n", needs, markers.get("skip-exec")))
        markers = {}
    return blocks


def doc_pages() -> list[Path]:
    pages = sorted(DOCS.rglob("*.md"))
    readme = REPO / "README.md"
    return pages + ([readme] if readme.exists() else [])


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _module_name(page: str) -> str:
    stem = page[len("docs/"):] if page.startswith("docs/") else page
    return "docs_" + re.sub(r"\W", "_", stem[:-3] if stem.endswith(".md") else stem)


def _pickle_by_value(module: types.ModuleType) -> None:
    """Ray workers cannot import a page's module: ship its functions by value."""
    for name in ("cloudpickle", "ray.cloudpickle"):
        try:
            cp = __import__(name, fromlist=["register_pickle_by_value"])
        except Exception:
            continue
        try:
            cp.register_pickle_by_value(module)
        except Exception:
            pass


def _unpickle_by_value(module: types.ModuleType) -> None:
    for name in ("cloudpickle", "ray.cloudpickle"):
        cp = sys.modules.get(name)
        if cp is not None and hasattr(cp, "unregister_pickle_by_value"):
            try:
                cp.unregister_pickle_by_value(module)
            except Exception:
                pass


PAGES = doc_pages()


def test_docs_have_pages() -> None:
    """The collection itself works: the site has pages and python examples."""
    assert PAGES, "no documentation pages found"
    assert any(b.lang == "python" for p in PAGES
               for b in parse_blocks(p.read_text(), _rel(p)))


@pytest.mark.parametrize("page", PAGES, ids=_rel)
def test_markers_are_valid(page: Path) -> None:
    """Markers are known, and skip-exec never hides a python example."""
    for block in parse_blocks(page.read_text(), _rel(page)):
        unknown = block.needs - {"ray"}
        assert not unknown, f"{_rel(page)} line {block.line}: unknown needs {sorted(unknown)}"
        if block.skip is not None:
            assert block.lang not in ("python", "py"), (
                f"{_rel(page)} line {block.line}: python blocks are always executed; "
                "skip-exec is only for illustrative non-python output")
            assert block.skip, f"{_rel(page)} line {block.line}: skip-exec needs a reason"


def _needs_ray(page: Path) -> bool:
    return any("ray" in b.needs for b in parse_blocks(page.read_text(), _rel(page)))


@pytest.mark.parametrize("page", [
    pytest.param(p, marks=[pytest.mark.ray] if _needs_ray(p) else [], id=_rel(p))
    for p in PAGES if any(b.lang in ("python", "py")
                          for b in parse_blocks(p.read_text(), _rel(p)))])
def test_page_examples_run(page: Path, request: pytest.FixtureRequest,
                           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The page's python blocks run in order, in one namespace, from a scratch dir."""
    rel = _rel(page)
    blocks = [b for b in parse_blocks(page.read_text(), rel) if b.lang in ("python", "py")]
    if any("ray" in b.needs for b in blocks):
        request.getfixturevalue("docs_ray")
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    name = _module_name(rel)
    module = types.ModuleType(name)
    module.__file__ = str(page)
    sys.modules[name] = module
    _pickle_by_value(module)
    try:
        for block in blocks:
            failure = _run_block(block, module)
            if failure:
                pytest.fail(failure, pytrace=False)
    finally:
        _unpickle_by_value(module)
        sys.modules.pop(name, None)


def _run_block(block: Block, module: types.ModuleType) -> str | None:
    """Execute one block in the page's module; the failure report, or None."""
    try:
        exec(compile(block.code, f"<{block.where}>", "exec"), module.__dict__)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # any failure of the example, reported with its place
        return f"{block.where} failed:\n{traceback.format_exc()}\n--- code ---\n{block.code}"
    return None


def test_parser_reads_markers_and_indented_fences() -> None:
    """The extractor itself: markers attach to the next fence, indentation is removed."""
    text = ("text\n\n<!-- needs: ray -->\n```python\nx = 1\n```\n\n"
            "!!! note\n    ```python\n    y = x + 1\n    ```\n\n"
            "<!-- skip-exec: output -->\n```json\n{}\n```\n")
    blocks = parse_blocks(text, "docs/t.md")
    assert [(b.lang, b.index, b.needs, b.skip) for b in blocks] == [
        ("python", 1, frozenset({"ray"}), None),
        ("python", 2, frozenset(), None),
        ("json", 0, frozenset(), "output"),
    ]
    assert blocks[1].code == "y = x + 1\n"
    ns: dict = {}
    for b in blocks[:2]:
        exec(b.code, ns)
    assert ns["y"] == 2
