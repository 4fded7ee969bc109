"""formulations/ is pure math: it never imports solver/, the CLI, or I/O modules."""

from __future__ import annotations

import ast

from conftest import ROOT

FORBIDDEN = ("solver", "pulp", "ortools", "highspy", "pandas", "tomllib", "subprocess", "sqlite3")


def _imports(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


def test_formulations_import_no_solver_backend_or_io():
    offenders = []
    for path in sorted((ROOT / "formulations").glob("*.py")):
        for name in _imports(path):
            if name.split(".")[0] in FORBIDDEN:
                offenders.append(f"{path.name}: {name}")
    assert not offenders, offenders


def test_formulations_do_not_open_files():
    offenders = []
    for path in sorted((ROOT / "formulations").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("open", "print"):
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, offenders


def _module_name(path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _import_nodes(tree: ast.AST):
    """Import statements anywhere in a module, except under `if TYPE_CHECKING:` and inside a
    module-level `__getattr__` (PEP 562 lazy attributes run after the package is initialised)."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        lazy_attr = isinstance(node, ast.FunctionDef) and node.name == "__getattr__"
        typing_only = isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        if lazy_attr or typing_only:
            skip.update(id(inner) for inner in ast.walk(node))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and id(node) not in skip:
            yield node


def _imports_of(path, known: set[str]) -> set[str]:
    """Modules importing `path` can run: `from a.b import c` means a.b.c when c is a submodule,
    else a.b; importing a module also runs its packages, except the importer's own packages
    (they are already being imported)."""
    me = _module_name(path)
    own = {".".join(me.split(".")[:i]) for i in range(1, me.count(".") + 1)}
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text())):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                targets.append(sub if sub in known else node.module)
        for name in targets:
            parts = name.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix in known and prefix not in own:
                    found.add(prefix)
    return found


def test_no_import_cycles():
    paths = [p for pkg in ("solver", "formulations") for p in sorted((ROOT / pkg).rglob("*.py"))]
    known = {_module_name(p) for p in paths}
    graph = {_module_name(p): _imports_of(p, known) - {_module_name(p)} for p in paths}
    # Function-level (lazy) imports count: a circle through them still ties the modules together.
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


ARCH_MODULES = {
    "formulations/afd.py",
    "formulations/ep.py",
    "formulations/tp.py",
    "formulations/archspec.py",
    "formulations/families.py",
    "formulations/architectures.py",
}


def _arch_name_uses(tree: ast.AST, names: set[str]) -> list[int]:
    """Lines where an architecture's name is compared, or keys or lists a collection."""
    lines = []

    def is_name(node: ast.AST) -> bool:
        return isinstance(node, ast.Constant) and node.value in names

    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            parts = [node.left, *node.comparators]
            for part in parts:
                if is_name(part) or (
                    isinstance(part, ast.Tuple | ast.List | ast.Set)
                    and any(is_name(e) for e in part.elts)
                ):
                    lines.append(node.lineno)
        elif isinstance(node, ast.Dict) and any(k is not None and is_name(k) for k in node.keys):
            lines.append(node.lineno)
        elif (
            isinstance(node, ast.Tuple | ast.List | ast.Set)
            and sum(is_name(e) for e in node.elts) >= 2
        ):
            lines.append(node.lineno)
    return sorted(set(lines))


def test_no_module_outside_the_architectures_compares_an_architecture_name():
    """Architecture knowledge lives in its module and its registry entries (issue 15): a
    product module asks `formulations.archspec` (pools, flags) instead of comparing names."""
    from formulations import archspec

    names = set(archspec.NAMES) | {"tp"}
    offenders = []
    for pkg in ("solver", "formulations"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            if rel in ARCH_MODULES:
                continue
            lines = _arch_name_uses(ast.parse(path.read_text()), names)
            offenders += [f"{rel}:{n}" for n in lines]
    assert not offenders, offenders


def test_the_core_api_does_not_import_the_analysis_package():
    """`solver.analysis` builds on `solver.api`; the reverse edge would make a cycle (issue 15):
    the public entry points that need both live in `solver.facade`."""
    offenders = []
    for rel in ("solver/api.py", "solver/rows.py", "solver/optimize.py"):
        tree = ast.parse((ROOT / rel).read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n.startswith("solver.analysis") or n.startswith("solver.facade") for n in names):
                offenders.append(f"{rel}:{node.lineno}")
    assert not offenders, offenders
