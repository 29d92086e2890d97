"""`ovdq tables` (ov_diffusion_quant/reporting/tables.py): the tables of results the docs link are made from the
committed records, so a committed table that differs from what they make is stale."""

from __future__ import annotations

import json
import shutil

from conftest import REPO
from ov_diffusion_quant.cli import tables as tables_command
from ov_diffusion_quant.reporting import tables


def test_the_committed_tables_are_what_the_committed_records_make(monkeypatch):
    monkeypatch.chdir(REPO)
    assert tables.stale() == [], "run `ovdq tables` and commit the tables with the records"


def test_every_op_profile_and_benchmarked_run_has_its_row(monkeypatch):
    monkeypatch.chdir(REPO)
    profiles = sorted(REPO.glob("reports/*/op_profile-*.md"))
    assert len(tables.op_profile_rows()) == len(profiles)
    benchmarks = tables.benchmarks_md()
    for path in [*REPO.glob("metrics/*/*/benchmark.json"), *REPO.glob("reports/*/recorded/*-benchmark.json")]:
        assert f"({path.relative_to(REPO / 'reports') if 'reports' in path.parts else '../' + str(path.relative_to(REPO))})" \
            in benchmarks, path


def test_check_names_the_stale_table_and_writes_nothing(tmp_path, monkeypatch, capsys):
    for name in ("metrics", "reports"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    monkeypatch.chdir(tmp_path)
    benchmark = tmp_path / "metrics" / "sdxl-turbo-arch" / "CPU" / "benchmark.json"
    record = json.loads(benchmark.read_text())
    record["speedup"]["optimized_vs_fp"] = 9.99
    benchmark.write_text(json.dumps(record))
    before = (tmp_path / "reports" / "benchmarks.md").read_text()

    assert tables_command.main(["--check"]) == 1
    assert "reports/benchmarks.md is stale" in capsys.readouterr().err
    assert (tmp_path / "reports" / "benchmarks.md").read_text() == before
    assert tables_command.main([]) == 0
    assert "**9.99×**" in (tmp_path / "reports" / "benchmarks.md").read_text()
