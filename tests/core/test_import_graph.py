"""The house's layering, read from the source: core imports no feature, no package imports another
that imports it back (directly or around a circle), the BLE scanner and the door import nothing
from the tracer, and each feature builds only on core and the features app.FEATURES lists before
it. Imports inside functions count: a deferred import is still a dependency."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

from app import FEATURES

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", *FEATURES)


def import_graph(root: Path, packages) -> dict[str, dict[str, list[str]]]:
    """package → imported package → ["file:line module", …] for every import between them."""
    graph: dict[str, dict[str, list[str]]] = {p: defaultdict(list) for p in packages}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top in graph and top != package:
                        where = f"{path.relative_to(root)}:{node.lineno} {name}"
                        graph[package][top].append(where)
    return graph


def cycles(graph) -> list[list[str]]:
    """Every circle of packages (each found once, from its smallest member)."""
    found = []

    def walk(start, node, path):
        for nxt in sorted(graph[node]):
            if nxt == start:
                found.append([*path, start])
            elif nxt > start and nxt not in path:
                walk(start, nxt, [*path, nxt])

    for start in sorted(graph):
        walk(start, start, [start])
    return found


def _sites(graph, a, b) -> str:
    return "; ".join(graph[a][b][:3])


GRAPH = import_graph(ROOT, PACKAGES)


def test_core_imports_no_feature():
    assert {p: _sites(GRAPH, "core", p) for p in GRAPH["core"]} == {}


def test_no_two_packages_import_each_other():
    found = cycles(GRAPH)
    assert found == [], "\n".join(
        " → ".join(c) + ": " + " | ".join(_sites(GRAPH, a, b) for a, b in zip(c, c[1:]))
        for c in found)


def test_the_scanner_and_the_door_import_nothing_from_the_tracer():
    for package in ("ble_beacon", "kiosk"):
        assert "tracing" not in GRAPH[package], _sites(GRAPH, package, "tracing")


def test_each_feature_builds_only_on_core_and_the_features_before_it():
    for i, package in enumerate(FEATURES):
        allowed = {"core", *FEATURES[:i]}
        above = {p: _sites(GRAPH, package, p) for p in GRAPH[package] if p not in allowed}
        assert above == {}, f"{package} imports a package listed after it in app.FEATURES"


def test_the_check_sees_a_circle_and_a_deferred_import(tmp_path):
    """The checker itself: two packages that import each other, one of them inside a function."""
    (tmp_path / "alpha").mkdir()
    (tmp_path / "beta").mkdir()
    (tmp_path / "alpha" / "a.py").write_text("from beta.b import thing\n")
    (tmp_path / "beta" / "b.py").write_text("def thing():\n    import alpha.a\n")
    graph = import_graph(tmp_path, ("alpha", "beta"))
    assert graph["alpha"]["beta"] == ["alpha/a.py:1 beta.b"]
    assert graph["beta"]["alpha"] == ["beta/b.py:2 alpha.a"]
    assert cycles(graph) == [["alpha", "beta", "alpha"]]
