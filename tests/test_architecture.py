"""Imports point down the floors of docs/architecture.md (checked on the source, lazy imports included)."""

import ast
from pathlib import Path

import v2meow

#: Floor of each top-level module or package; a module may import its own package and lower floors.
FLOORS = {
    "errors": 0, "v2meow": 0, "safety": 0, "resources": 0,
    "media": 1, "components": 1,
    "signal": 2,
    "features": 3, "tokenizers": 3, "stages": 3,
    "data": 4, "pipelines": 4, "evaluation": 4,
    "training": 5,
    "app": 6,
    "cli": 7, "demo": 7,
}  # fmt: skip
#: Floors whose packages may not import each other (model code; data, pipelines and evaluation).
ISOLATED = {3, 4}


def _imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        names = [node.module] if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 else []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "v2meow":
                yield node.lineno, parts[1] if len(parts) > 1 else "v2meow"


def test_every_import_points_down():
    root = Path(v2meow.__file__).parent
    bad = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).parts
        own = rel[0].removesuffix(".py") if rel[0] != "__init__.py" else "v2meow"
        assert own in FLOORS, f"{path}: add its package to FLOORS (and to docs/architecture.md)"
        for line, target in _imports(path):
            if target == own:
                continue
            up = FLOORS[target] > FLOORS[own]
            sideways = FLOORS[target] == FLOORS[own] and FLOORS[own] in ISOLATED
            if up or sideways:
                bad.append(
                    f"{path.relative_to(root)}:{line} ({own}, floor {FLOORS[own]}) imports {target} (floor {FLOORS[target]})"
                )
    assert not bad, "imports that point up or sideways:\n" + "\n".join(bad)


ROOT = Path(__file__).resolve().parents[1]


def _top_level_imports(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module.split(".")[0]
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, a.name.split(".")[0]) for a in node.names)


def test_the_package_never_imports_the_recipes():
    """`recipes/` (outside the installed package) may import v2meow; v2meow never imports recipes."""
    root = Path(v2meow.__file__).parent
    bad = [
        f"{p.relative_to(root)}:{line}"
        for p in sorted(root.rglob("*.py"))
        for line, top in _top_level_imports(p)
        if top == "recipes"
    ]
    assert not bad, "v2meow imports recipes (not installed with it):\n" + "\n".join(bad)


def test_recipes_import_only_v2meow_and_themselves_of_this_repository():
    bad = [
        f"{p.relative_to(ROOT)}:{line} imports {top}"
        for p in sorted((ROOT / "recipes").rglob("*.py"))
        for line, top in _top_level_imports(p)
        if top in {"tests", "bench", "src"}
    ]
    assert not bad, "\n".join(bad)


def test_the_demo_package_is_only_the_make_demo_entry_point():
    """The installed `v2meow.demo` keeps `make demo`; the demo data and bundle recipes are in recipes/."""
    demo = Path(v2meow.__file__).parent / "demo"
    assert sorted(p.name for p in demo.glob("*.py")) == ["__init__.py", "__main__.py"]


def _module_graph() -> dict[str, set[str]]:
    """Every v2meow module -> the v2meow modules it imports (lazy imports included; `from pkg import mod`
    points at the module, not at the package)."""
    root = Path(v2meow.__file__).parent
    mods = {".".join(p.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__"): p
            for p in root.rglob("*.py")}  # fmt: skip
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in mods]
                names = subs if len(subs) == len(node.names) else [node.module, *subs]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            graph[m] |= {n for n in names if n in mods and n != m}
    return graph


def test_no_import_circles():
    graph, state, path, circles = _module_graph(), {}, [], []

    def visit(m: str) -> None:  # depth first: a module met again while still on the path closes a circle
        state[m] = "open"
        path.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                circles.append(" -> ".join(path[path.index(n) :] + [n]))
            elif n not in state:
                visit(n)
        path.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not circles, "import circles:\n" + "\n".join(circles)
