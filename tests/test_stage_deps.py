"""dvc.yaml's code deps are exactly the project files each stage's command imports.

A stage whose code is not a dep keeps its cached output when that code changes, and a quality gate then passes on
a result the current code would not produce; a stage that lists code it does not import re-runs for nothing (an
edit of the PixArt family retraining the SDXL reference model). The imports are read from the code (transitively,
function-level imports included), with the family registry's imports by name (``family_for`` and the like load a
family module named in FAMILY_MODULES) counted as importing every registered family module.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = "stages"  # the DVC entry points
LIBRARY = "ov_diffusion_quant"
PACKAGES = (STAGES, LIBRARY)


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    return modules


def has_code(path: Path) -> bool:
    """More than a docstring: an empty ``__init__`` or one with only its docstring decides nothing."""
    body = ast.parse(path.read_text()).body
    return bool(body[1:] if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                else body)


REGISTRY = f"{LIBRARY}.families"  # loads a family module by name
FAMILY_NAMES = f"{LIBRARY}.config.families"  # where FAMILY_MODULES names them
FAMILY_LOADERS = {"family_for", "family_class", "get_family", "check_all"}  # the registry's functions that import


def registered_family_modules(modules: dict[str, Path]) -> list[str]:
    """The modules FAMILY_MODULES names ("module:class"), read from the registry's source."""
    for node in ast.walk(ast.parse(modules[FAMILY_NAMES].read_text())):
        if isinstance(node, ast.Assign) and any(getattr(target, "id", "") == "FAMILY_MODULES" for target in node.targets):
            return [value.value.split(":")[0] for value in node.value.values]
    raise AssertionError(f"{FAMILY_NAMES} defines no FAMILY_MODULES")


def loads_a_family(tree: ast.AST) -> bool:
    """The module calls one of the registry's functions that import a family module by name."""
    return any(isinstance(node, ast.Call) and (getattr(node.func, "id", None) or getattr(node.func, "attr", None))
               in FAMILY_LOADERS for node in ast.walk(tree))


def imported_modules(module: str, modules: dict[str, Path], parents: bool = True) -> set[str]:
    """``module`` and every project module it imports, transitively (with ``parents``, the packages that
    Python imports on the way, whose ``__init__`` runs too)."""
    families = registered_family_modules(modules)
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or name not in modules:
            continue
        seen.add(name)
        parts = name.split(".")
        if parents:
            todo += [".".join(parts[:i]) for i in range(1, len(parts))]
        tree = ast.parse(modules[name].read_text())
        if name != REGISTRY and loads_a_family(tree):
            todo += families
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
                for alias in node.names:
                    todo.append(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules
                                else node.module)
            elif isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names if alias.name in modules]
    return seen


def stage_definitions() -> dict[str, dict]:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def covered(path: Path, deps: list[str]) -> bool:
    relative = path.relative_to(REPO).as_posix()
    return any(relative == dep or relative.startswith(dep.rstrip("/") + "/") for dep in deps)


def entry_module(stage: str) -> str:
    command = stage_definitions()[stage]["cmd"]
    entry = re.match(rf"python -m ({STAGES}\.\w+)", command)
    assert entry, f"stage {stage}: command {command!r} is not `python -m {STAGES}.<name>`"
    return entry.group(1)


def code_deps(stage: str) -> list[str]:
    """The stage's deps that are project code."""
    return [dep for dep in stage_definitions()[stage].get("deps", []) if dep.split("/")[0] in PACKAGES]


def expected_code_deps(stage: str) -> list[str]:
    """The files the stage imports, a package directory where it imports every file in it."""
    modules = project_modules()
    needed = {modules[name].relative_to(REPO).as_posix() for name in imported_modules(entry_module(stage), modules)
              if has_code(modules[name])}
    code = {path.relative_to(REPO).as_posix() for path in modules.values() if has_code(path)}
    deps: list[str] = []
    for path in sorted(needed):
        parts = path.split("/")
        # the outermost sub-package of the library whose code is all needed
        for depth in range(2, len(parts)):
            directory = "/".join(parts[:depth])
            if parts[0] == LIBRARY and all(f in needed for f in code if f.startswith(directory + "/")):
                path = directory
                break
        if path not in deps:
            deps.append(path)
    return sorted(deps, key=lambda dep: (not dep.startswith(STAGES + "/"), dep))  # the entry point first


@pytest.mark.parametrize("stage", sorted(stage_definitions()))
def test_the_code_deps_are_what_the_stage_imports(stage):
    listed, expected = code_deps(stage), expected_code_deps(stage)
    modules = project_modules()
    missing = sorted(modules[name].relative_to(REPO).as_posix() for name in imported_modules(entry_module(stage), modules)
                     if has_code(modules[name]) and not covered(modules[name], listed))
    assert not missing, f"stage {stage} imports {', '.join(missing)} but dvc.yaml does not list them as deps"
    assert sorted(listed) == sorted(expected), (
        f"stage {stage}: dvc.yaml lists code it does not import, or a file where its directory would do; its code "
        f"deps are: {', '.join(expected)}")


@pytest.mark.parametrize("stage", sorted(stage_definitions()))
def test_every_stage_depends_on_the_installed_library_versions(stage):
    """Library versions decide outputs (exporters, NNCF, OpenVINO kernels): the host stage records them."""
    deps = stage_definitions()[stage].get("deps", [])
    if stage == "host":
        assert stage_definitions()[stage].get("always_changed"), "the host stage must look at the host every run"
        return
    assert "data/host/libraries.json" in deps, f"stage {stage} does not depend on data/host/libraries.json"


def test_the_checker_finds_a_missing_dep(tmp_path):
    """The walk above sees through packages and function-level imports (the test can fail)."""
    modules = project_modules()
    quantize = imported_modules("stages.quantize", modules)
    assert f"{LIBRARY}.families.sdxl" in quantize, "the SDXL IgnoredScope reaches quantize through the registry"
    assert not covered(modules[f"{LIBRARY}.families.sdxl"], ["stages/quantize.py", f"{LIBRARY}/quantization"])
    source = imported_modules("stages.source", modules)
    assert f"{LIBRARY}.reference.training" in source and not set(registered_family_modules(modules)) & source, \
        "the reference model's training needs no family module (an edit of one must not retrain it)"


def test_the_top_of_stages_holds_only_stage_entry_points():
    commands = {re.match(r"python -m stages\.(\w+)", d["cmd"]).group(1) for d in stage_definitions().values()}
    entry_points = {path.stem for path in (REPO / STAGES).glob("*.py")} - {"__init__"}
    assert entry_points <= commands, f"not DVC stages: {sorted(entry_points - commands)} (move them into {LIBRARY})"
    assert not [path for path in (REPO / STAGES).iterdir() if path.is_dir() and path.name != "__pycache__"], \
        f"{STAGES}/ holds only the stages' entry points; the library is {LIBRARY}/"


def test_no_module_shares_a_name_with_one_of_another_role():
    """A stage and a library module of the same name (stages/host.py, ov_diffusion_quant/runtime/host.py) send a
    reader to the wrong one."""
    stems = {}
    for name in project_modules():
        stems.setdefault(name.rsplit(".", 1)[-1], []).append(name)
    shared = {stem: names for stem, names in stems.items() if len(names) > 1 and stem != "__init__"
              and len({name.split(".")[0] for name in names}) > 1}
    assert not shared, shared


def test_no_import_cycles():
    modules = project_modules()
    graph = {name: imported_modules(name, modules, parents=False) - {name} for name in modules}
    cycles = sorted(f"{a} <-> {b}" for a in graph for b in graph[a] if a < b and a in graph.get(b, ()))
    assert not cycles, f"import cycles: {cycles}"


def test_dvc_yaml_stays_a_map():
    """The stages, their data and their outputs at a glance: code deps as one wrapped list each, no file lists longer
    than the code they describe."""
    lines = (REPO / "dvc.yaml").read_text().splitlines()
    assert len(lines) <= 250, f"dvc.yaml has {len(lines)} lines (at most 250)"
