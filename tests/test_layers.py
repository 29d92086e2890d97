"""The library's layers, lowest first, and the test that they hold: every import, function-level ones included,
points to the importer's own layer or one below it. What that buys, read from dvc.yaml: a stage's deps follow from
what it does, so that editing a quantization module or a family cannot mark the scene data or the reference model's
training stale."""

from __future__ import annotations

import ast

import pytest

from test_stage_deps import LIBRARY, REPO, code_deps, project_modules

LAYERS = (
    ("common",),  # outputs, paths, errors, resources, hub downloads, prompt files: no domain knowledge
    ("config",),  # the params schema as data: specs, recipe names and knobs, family names; the params.yaml loader
    ("runtime",),  # this host's facts, devices, compiling and timing a model, recording a model's inputs
    ("families",),  # one file per model family behind ModelFamily
    ("quantization", "evaluation", "reference"),  # recipes and IR analysis; metrics and checks; the trained reference
    ("orchestration", "benchmarking", "reporting"),  # what runs the layers below together: search, benchmark, reports
    ("cli",),  # the console script (stages/, outside the package, is at this level too)
)
LAYER_OF = {package: level for level, packages in enumerate(LAYERS) for package in packages}


def runtime_imports(tree: ast.AST):
    """Every ``from ov_diffusion_quant... import`` outside ``if TYPE_CHECKING:`` blocks (annotations only)."""
    skipped = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If)
               and getattr(block.test, "id", getattr(block.test, "attr", None)) == "TYPE_CHECKING"
               for statement in block.body for node in ast.walk(statement)}
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in (LIBRARY, "stages"):
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names if alias.name.startswith(LIBRARY + "."))


def layer(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] == "stages":
        return len(LAYERS)
    return LAYER_OF.get(parts[1]) if len(parts) > 1 else None


def test_every_library_package_has_a_layer():
    packages = {path.parent.name for path in (REPO / LIBRARY).glob("*/__init__.py")}
    assert packages == set(LAYER_OF), f"packages without a layer: {sorted(packages - set(LAYER_OF))}; " \
                                      f"layers without a package: {sorted(set(LAYER_OF) - packages)}"


def test_no_import_points_up_the_layers():
    upward = []
    for name, path in project_modules().items():
        if not name.startswith(LIBRARY + ".") or layer(name) is None:
            continue
        for line, imported in runtime_imports(ast.parse(path.read_text())):
            if layer(imported) is not None and layer(imported) > layer(name):
                upward.append(f"{path.relative_to(REPO)}:{line} imports {imported}")
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def test_the_checker_sees_an_upward_import(tmp_path):
    tree = ast.parse("def f():\n    from ov_diffusion_quant.orchestration.search import search\n"
                     "if TYPE_CHECKING:\n    from ov_diffusion_quant.families import ModelFamily\n")
    found = [module for _, module in runtime_imports(tree)]
    assert found == ["ov_diffusion_quant.orchestration.search"]
    assert layer(found[0]) > layer("ov_diffusion_quant.quantization.recipes")


@pytest.mark.parametrize("stage", ["scenes", "source"])
def test_the_reference_models_data_and_training_do_not_depend_on_quantization_or_families(stage):
    deps = [dep for dep in code_deps(stage) if dep.startswith(LIBRARY)]
    assert not [dep for dep in deps if dep.startswith((f"{LIBRARY}/quantization", f"{LIBRARY}/families",
                                                      f"{LIBRARY}/evaluation"))], deps
