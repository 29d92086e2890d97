"""The PixArt reference's committed snapshot (data/reference-models/trained-pixart, variant trained-pixart-snapshot)
through the whole DAG in a fresh clone: export, calibrate, its recipe search on a reduced candidate list, quantize,
evaluate with the scenes judge and the gate. Its choice must pass the gate on the held-out captions, and a
deliberately worse PixArt recipe must fail it. The search spread over runners is tested on the SDXL snapshot
(tests/test_reference_e2e.py); this file runs in the other pytest worker beside it.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from conftest import make_repo_copy, run_in
from reference_runs import (
    HELD_OUT_FOR_A_FAILURE,
    default_drop,
    gate,
    only_these_candidates,
    unshared_params,
)

from ov_diffusion_quant.runtime import host_facts

pytestmark = pytest.mark.e2e
PIXART = "trained-pixart-snapshot"
# the notebook's hybrid makes statistics passes of its own (the SDXL list has such a candidate): not in CI's list;
# int8-every-component quantizes T5 and the VAE decoder too, from the inputs calibrate recorded for them
PIXART_CANDIDATES = ("float-embeddings", "int8-every-component", "int8-attention-7-bit", "weights-only")
# full INT8 calibrated on 4 samples (its held-out run: reports/recipe_regressions.json)
WORSE_PIXART = {"calibrate.subset_size": 4, "quantize.components.transformer": "int8",
                "evaluate.num_prompts": HELD_OUT_FOR_A_FAILURE}
# PixArt's candidates pass by far (reports/recipe_search/*/pixart/recipe.json): fewer validation captions here
VALIDATION_CAPTIONS = 40


@pytest.fixture(scope="module")
def pixart_repo(tmp_path_factory):
    """A fresh clone after `dvc repro` of the PixArt snapshot's search, quantize and evaluate, then the gate's
    command: (the clone, the gate's output and return code)."""
    repo = make_repo_copy(tmp_path_factory.mktemp("pixart-reference"))
    params = unshared_params(repo)
    params["enabled"] = [PIXART]
    params["search"]["variants"] = [PIXART]
    params["variants"][PIXART]["quantize"]["search"].update(candidates=list(PIXART_CANDIDATES),
                                                            num_prompts=VALIDATION_CAPTIONS)
    only_these_candidates(params, PIXART_CANDIDATES)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run_in(repo, "git", "commit", "-qam", "the PixArt snapshot only, fewer search candidates")
    run_in(repo, "dvc", "repro", f"evaluate@{PIXART}-CPU")
    return (repo, *gate(repo))


def test_the_pixart_reference_searches_its_own_candidates_and_its_choice_passes_the_held_out_gate(pixart_repo):
    """PixArt's candidates name its parts (ViDiT-Q's float embedders, 7-bit attention keys); the choice is held to the
    held-out captions like SDXL's."""
    repo, output, returncode = pixart_repo
    search = json.loads((repo / "metrics" / PIXART / "CPU" / "recipe.json").read_text())
    assert search["searched"] and [row["candidate"] for row in search["candidates"]] == list(PIXART_CANDIDATES)
    rows = {row["candidate"]: row for row in search["candidates"]}
    assert rows["float-embeddings"]["statistics"] == {"transformer": "shared"}
    every = rows["int8-every-component"]
    if not every.get("skipped"):  # it saturates without VNNI
        assert every["statistics"] == {c: "shared" for c in ("transformer", "text_encoder", "vae_decoder")}
        assert every["image_components"]["transformer"]["calls"] == 8  # steps
        assert every["image_components"]["vae_decoder"]["int8_macs_share"] > 0
        assert every["image_int8_macs_share"] > rows["float-embeddings"]["image_int8_macs_share"]
    assert rows["weights-only"]["statistics"] == {}
    passing = [row for row in search["candidates"] if row["passed"]]
    assert passing, search["candidates"]
    assert search["chosen"] == max(passing, key=lambda row: row["image_int8_macs_share"])["candidate"]
    host_class = json.loads((repo / "data" / "host" / "runtime.json").read_text())["isa_class"]
    skipped = [row for row in search["candidates"] if row.get("skipped")]
    assert all("saturate on" in row["failed_checks"][0] for row in skipped)
    assert bool(skipped) == host_facts.int8_sums_saturate(host_class), search["candidates"]
    # a failing candidate stops rendering once the gate is certain to fail it (at the latest on the last caption)
    assert all((row["stopped_early"] is None) == row["passed"] for row in search["candidates"]
               if not row.get("skipped")), search["candidates"]
    applied = json.loads((repo / "models" / PIXART / "optimized-CPU" / "quantization.json").read_text())
    assert applied["candidate"] == search["chosen"]
    quantized = json.loads((repo / "metrics" / PIXART / "CPU" / "quantize.json").read_text())
    assert quantized["quantized_by"] == f"candidate@{PIXART}-CPU-{search['chosen']}"  # the search's model, as it is
    adherence = json.loads((repo / "metrics" / PIXART / "CPU" / "evaluate.json").read_text())["adherence"]
    assert adherence["fp"]["n"] == 100 and adherence["fp"]["attributes"] > 0.6, adherence["fp"]  # it draws
    assert adherence["drop"] <= 0.02, adherence
    gate_md = (repo / "reports" / "gate.md").read_text()
    assert re.search(rf"{PIXART}.*prompt adherence, optimized - FP .*\| pass", gate_md), gate_md
    assert returncode == 0 and "quality gate passed" in output, output[-3000:]


def test_a_deliberately_worse_pixart_recipe_fails_the_reference_gate(pixart_repo):
    """WORSE_PIXART without the search, on few calibration samples: the PixArt reference's gate must catch it."""
    repo = pixart_repo[0]
    default = default_drop(repo, PIXART)
    run_in(repo, "dvc", "exp", "run", f"evaluate@{PIXART}-CPU", "-n", "pixart-worse", "-S", "search.variants=[]",
           *(arg for key, value in WORSE_PIXART.items() for arg in ("-S", f"variants.{PIXART}.{key}={value}")))
    output, returncode = gate(repo)
    assert returncode == 1 and "quality gate FAILED" in output
    worse = default_drop(repo, PIXART)
    assert worse > 0.02 and worse > default + 0.1, (worse, default)
