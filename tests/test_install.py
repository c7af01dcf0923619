"""What a fresh machine needs to get right: every imported package is declared, CI runs the README's second
command in an environment of its own, and the README's Python versions are the ones CI runs."""

from __future__ import annotations

import ast
import os
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
README = (ROOT / "README.md").read_text()
CI_SCRIPT = (ROOT / ".ci" / "run").read_text()

# The distribution's own import packages, and the example plug-in (a separate distribution the tests install).
LOCAL = {"bench", "tests", "benchmarks", "bench_example_plugin"}


def normalise(name: str) -> str:
    """PEP 503: `Alt_Profanity.Check` and `alt-profanity-check` name the same distribution."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(specs: list[str]) -> set[str]:
    return {normalise(re.split(r"[\s<>=!~;\[(]", spec.strip(), maxsplit=1)[0]) for spec in specs}


def third_party_imports(folders: list[Path]) -> dict[str, str]:
    """Top-level module → where it is first imported (file:line), read as text with `ast`, never imported."""
    found: dict[str, str] = {}
    for folder in folders:
        for path in sorted(folder.rglob("*.py")):
            if "plugin_example" in path.parts:
                continue  # its own distribution, with its own pyproject.toml
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in LOCAL and top != "__future__":
                        found.setdefault(top, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def undeclared(imports: dict[str, str], declared: set[str]) -> list[str]:
    """The imports that no declared requirement provides. A module that is not installed here is looked up by
    its own name (an optional extra's package, such as `detoxify`, is often absent)."""
    providers = packages_distributions()
    missing = []
    for module, where in sorted(imports.items()):
        owners = {normalise(d) for d in providers.get(module, [])} or {normalise(module)}
        if not owners & declared:
            missing.append(f"{module} (imported at {where}; provided by {', '.join(sorted(owners))})")
    return missing


def test_every_third_party_module_the_package_imports_is_a_declared_requirement():
    declared = requirement_names(PROJECT["dependencies"])
    for extra in PROJECT["optional-dependencies"].values():
        declared |= requirement_names(extra)
    imports = third_party_imports([ROOT / "bench"])
    assert {"torch", "transformers", "jsonschema", "scipy"} <= set(imports)  # the scan does see the code
    missing = undeclared(imports, declared)
    assert not missing, "imported but not declared in pyproject.toml:\n" + "\n".join(missing)


def test_every_third_party_module_the_tests_import_is_a_dependency_or_in_the_test_extra():
    declared = requirement_names(PROJECT["dependencies"]) | requirement_names(PROJECT["optional-dependencies"]["test"])
    imports = third_party_imports([ROOT / "tests", ROOT / "benchmarks"])
    assert {"pytest", "selenium", "PIL"} <= set(imports)
    missing = undeclared(imports, declared)
    assert not missing, "imported by tests but not declared for them in pyproject.toml:\n" + "\n".join(missing)


def test_the_check_names_a_module_that_only_another_package_brings_along():
    # scipy arrives with scikit-learn; importing it without declaring it is the bug this file guards against.
    imports = {"scipy": "bench/statistics.py:1", "numpy": "bench/metrics.py:1"}
    assert undeclared(imports, {"numpy", "scikit-learn"}) == ["scipy (imported at bench/statistics.py:1; provided by scipy)"]
    assert undeclared({"not_installed_anywhere": "x.py:3"}, {"numpy"}) == [
        "not_installed_anywhere (imported at x.py:3; provided by not-installed-anywhere)"]


def readme_commands() -> list[str]:
    """The commands of the README's "two commands" section, in order."""
    section = README.split("## The two commands", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, flags=re.S)]


def test_ci_runs_the_readmes_second_command_inside_a_virtual_environment_it_creates():
    first, second = readme_commands()[:2]
    assert "bench run" in first and "pytest" in second
    lines = [line.strip() for line in CI_SCRIPT.splitlines()]
    assert second in lines, ".ci/run must run the README's second command verbatim"
    venv = next(i for i, line in enumerate(lines) if re.search(r"-m venv ", line))
    activate = next(i for i, line in enumerate(lines) if re.search(r"(source|\.) .*/bin/activate", line))
    assert venv < activate < lines.index(second)
    assert re.search(r"export BENCH_HOME=", CI_SCRIPT), "CI starts from an empty BENCH_HOME"


def supported_pythons() -> list[tuple[int, int]]:
    match = re.search(r"Supported Python versions?: \*\*([0-9., ]+)\*\*", README)
    assert match, "the README states the supported Python versions"
    return [tuple(int(p) for p in v.split(".")) for v in re.findall(r"3\.\d+", match.group(1))]


def test_the_readmes_python_versions_start_where_requires_python_does():
    lower = re.fullmatch(r">=\s*(\d+)\.(\d+)", PROJECT["requires-python"].split(",")[0].strip())
    assert lower and min(supported_pythons()) == (int(lower.group(1)), int(lower.group(2)))


@pytest.mark.skipif(not os.environ.get("CI"), reason="checks the interpreter CI runs (CI=true)")
def test_ci_runs_a_python_version_the_readme_supports():
    assert sys.version_info[:2] in supported_pythons()
    assert sys.prefix != sys.base_prefix, "CI runs inside the virtual environment .ci/run creates"
