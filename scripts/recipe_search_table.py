"""The per-host-class table of docs/reference-model.md, from the recorded runs in reports/recipe_search/<class>/.

    python scripts/recipe_search_table.py [reports/recipe_search]

Each <class>/ holds what one host class produced for trained-sdxl-snapshot: recipe.json (the search, as
metrics/<v>/<d>/recipe.json), evaluate_default.json (the notebook's recipe on the held-out captions) and
evaluate_chosen.json (the chosen recipe on the held-out captions), and optionally recipe_speed.json
(scripts/recipe_speed.py on the full-size UNet). A class recorded under emulation (scripts/emulate_host.py) has
"emulated" in its directory name. Where <class>/saturation_rule/ exists (classes without VNNI, where the search skips
candidates whose INT8 sums saturate), the choice, its held-out run and its speed are that directory's; the
default's held-out run and INT8 share stay the class's own (the skipped notebook row has no share).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def held_out(path: Path) -> str:
    """Adherence, SSIM and PSNR minimum on the held-out captions, and the gate's verdict on them."""
    from ov_diffusion_quant.config.params import load
    from ov_diffusion_quant.evaluation.checks import metric_checks

    data = json.loads(path.read_text())
    a = data["adherence"]
    variant = load().variant("trained-sdxl-snapshot")
    failed = [c.metric.split(" ")[0].replace("prompt", "adherence") for c in metric_checks(variant.name, "CPU", variant.gate, data, "") if not c.passed]
    return (f"{a['fp']['attributes']:.3f} → {a['optimized']['attributes']:.3f} ({a['drop']:.3f}), SSIM "
            f"{data['text2image']['ssim']['min']:.3f}, PSNR {data['text2image']['psnr']['min']:.1f} dB: "
            + (f"**FAIL** ({', '.join(failed)})" if failed else "pass"))


# candidates timed by the twin with the same ops in INT8 (only bias values differ: full bias correction is hours at
# full size)
TIMED_AS = {"float-embeddings-full-bias-correction": "float-embeddings",
            "saturation-free": "saturation-free-fast-bias-correction",
            "saturation-free-int8-attention": "saturation-free-int8-attention-fast-bias-correction"}


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "reports/recipe_search")
    print("| host class (precision) | default on held-out: adherence FP → opt. (drop), SSIM min, PSNR min: gate | "
          "chosen | chosen on held-out | INT8 share of MACs, default → chosen | full-size UNet step, chosen vs default |")
    print("|---|---|---|---|---|---|")
    for directory in sorted(p for p in root.iterdir() if p.is_dir()):
        current = directory / "saturation_rule" if (directory / "saturation_rule").is_dir() else directory
        default = {row["candidate"]: row for row in json.loads((directory / "recipe.json").read_text())["candidates"]}[
            "notebook"]
        search = json.loads((current / "recipe.json").read_text())
        chosen = {row["candidate"]: row for row in search["candidates"]}.get(search.get("chosen"))
        speed = current / "recipe_speed.json"
        ratio = "not measured"
        if speed.exists() and chosen:
            record = json.loads(speed.read_text())["rows"]
            twin = TIMED_AS.get(chosen["candidate"])
            if chosen["candidate"] in record:
                ratio = f"{record[chosen['candidate']]['speed_vs_notebook']:.3f}×"
            elif twin in record:
                ratio = f"{record[twin]['speed_vs_notebook']:.3f}× (as {twin})"
        host = search["host"]
        print(f"| {directory.name} ({host['precision']}) | {held_out(directory / 'evaluate_default.json')} | "
              f"{search.get('chosen') or 'none passes (closest: ' + str(search.get('closest')) + ')'} | "
              f"{held_out(current / 'evaluate_chosen.json') if chosen else '-'} | "
              f"{default['int8_macs_share']:.4f} → {chosen['int8_macs_share']:.4f} | {ratio} |"
              if chosen else f"| {directory.name} | ... | none | - | - | - |")


if __name__ == "__main__":
    main()
