"""The packages form layers: a module imports only from its own package or from packages of lower layers
(function-level imports included; imports a type checker alone reads are not run), so the folder shows the
flow of data and nothing reaches upward."""

import ast
from pathlib import Path

import bench

ROOT = Path(bench.__file__).parent

# Lowest first. Packages on one line are siblings: neither imports the other.
LAYERS = (
    ("core",),
    ("neurons",),
    ("models",),  # loading checks a checkpoint against the architecture table
    ("llm",),
    ("api",),
    ("methods", "tasks", "analysis", "attacks"),
    ("harness",),
    ("results", "testing"),
    ("cli",),
    ("__main__",),
)
LEVEL = {package: level for level, packages in enumerate(LAYERS) for package in packages}


def package_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "bench" and len(parts) > 1 else None


def type_checking_only(tree: ast.Module) -> set[int]:
    """Ids of the nodes inside `if TYPE_CHECKING:` blocks: imports for a type checker, never run."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            inside.update(id(n) for statement in node.body for n in ast.walk(statement))
    return inside


def imports(path: Path) -> set[str]:
    found = set()
    tree = ast.parse(path.read_text())
    skipped = type_checking_only(tree)
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names if node.module == "bench")
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def upward_imports() -> list[str]:
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        relative = path.relative_to(ROOT)
        own = relative.parts[0].removesuffix(".py")
        if own == "__init__":
            continue  # the public face re-exports lazily from every layer, and nothing imports it
        for module in imports(path):
            other = package_of(module)
            if other is None or other == own or other == "core" and own == "core":
                continue
            if other not in LEVEL or own not in LEVEL:
                wrong.append(f"{relative}: {module} (a package outside the layer table)")
            elif LEVEL[other] >= LEVEL[own]:
                wrong.append(f"{relative}: imports {module}")
    return wrong


def test_no_module_imports_from_its_own_layer_or_above():
    assert upward_imports() == []


def test_every_package_is_in_the_layer_table():
    packages = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in ROOT.glob("*.py") if p.stem != "__init__"}
    assert packages | modules <= set(LEVEL)
