"""The house rules of ARCHITECTURE.md that import-linter's contracts do not state.

``lint-imports`` (in the test command) checks the layers. These check what a newcomer relies on
besides: no import cycle between any two modules, counting imports inside functions; a short top
level; small modules; no reading another object's ``_private`` attributes.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parents[1] / "xai_defer_magic"
MAX_TOP_LEVEL_MODULES = 12
MAX_MODULE_LINES = 400


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def import_cycles() -> list[list[str]]:
    """Strongly connected groups of modules (Tarjan), imports inside functions included."""
    graph = grimp.build_graph("xai_defer_magic", exclude_type_checking_imports=True)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return cycles


def test_no_import_cycles_counting_imports_inside_functions() -> None:
    assert import_cycles() == []


def test_the_top_level_is_short() -> None:
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, top


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def private_reads(source: str) -> list[str]:
    """``x._name`` where ``x`` is not ``self``, ``cls`` or ``super()``.

    IPython's display hooks (``_repr_html_``, ``_repr_mimebundle_``) are a public protocol
    despite the underscore, so they are allowed.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Attribute):
            continue
        name = node.attr
        if not name.startswith("_") or name.startswith("__") or name.startswith("_repr_"):
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
            continue
        if (isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name)
                and owner.func.id == "super"):
            continue
        found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_private_reads_are_recognised() -> None:
    assert private_reads("a._b\nself._c\nsuper()._d\nx._repr_html_()") == ["1: a._b"]


def test_no_module_reads_another_objects_private_attributes() -> None:
    found = {
        str(p.relative_to(PACKAGE)): reads
        for p in modules()
        if (reads := private_reads(p.read_text()))
    }
    assert found == {}


def test_no_module_bounds_an_await_with_asyncio_wait_for() -> None:
    """``loop.within`` instead: wait_for can swallow a closing runtime's cancel (3.10, 3.11)."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "wait_for" and isinstance(
                    node.value, ast.Name) and node.value.id == "asyncio":
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert [o for o in offenders if not o.startswith("loop.py")] == []
