"""dvc.yaml stays honest: every project file a stage's command imports is one of its deps.

A stage whose code is not a dep keeps its cached output when that code changes, and a
quality gate then passes on a result the current code would not produce. The imports
are read from the code (transitively, function-level imports included), not listed here.
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


def imported_modules(module: str, modules: dict[str, Path], parents: bool = True) -> set[str]:
    """``module`` and every project module it imports, transitively (with ``parents``, the packages that
    Python imports on the way, whose ``__init__`` runs too)."""
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
        for node in ast.walk(ast.parse(modules[name].read_text())):
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


@pytest.mark.parametrize("stage", sorted(stage_definitions()))
def test_every_imported_project_file_is_a_dep_of_the_stage(stage):
    definition = stage_definitions()[stage]
    entry = re.match(r"python -m ([\w.]+)", definition["cmd"])
    assert entry, f"stage {stage}: command {definition['cmd']!r} is not `python -m stages.<name>`"
    modules = project_modules()
    missing = sorted(
        modules[name].relative_to(REPO).as_posix()
        for name in imported_modules(entry.group(1), modules)
        if has_code(modules[name]) and not covered(modules[name], definition.get("deps", []))
    )
    assert not missing, f"stage {stage} imports {', '.join(missing)} but dvc.yaml does not list them as deps"


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
    assert "ov_diffusion_quant.families.sdxl" in quantize, "the SDXL IgnoredScope reaches quantize through the families"
    assert not covered(modules["ov_diffusion_quant.families.sdxl"], ["stages/quantize.py", "ov_diffusion_quant/quantization"])


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
