"""Print the latest ``bench/results/summary.json`` as the Markdown table ``bench/README.md`` carries."""

from __future__ import annotations

import json
from pathlib import Path

summary = json.loads((Path(__file__).parent / "results" / "summary.json").read_text())
print(f"Measured {summary['date']} on `{summary['machine']}` ({summary['cpus']} cores), "
      f"{'quick' if summary['quick'] else 'full'} run, {summary['seconds']} s.\n")
print("| id | what | value | floor | ratio | target | met |")
print("|---|---|---|---|---|---|---|")
for r in summary["rows"]:
    value = "–" if r["value"] is None else f"{r['value']:,.1f} {r['unit']}"
    floor = "–" if r["floor"] is None else f"{r['floor']:,.1f}"
    ratio = "–" if r["ratio"] is None else f"{r['ratio']:.2f}"
    met = {True: "yes", False: "**no**", None: "–"}[r["met"]]
    extra = f" (p99 {r['p99_ms']:.0f} ms)" if r.get("p99_ms") else ""
    print(f"| {r['id']} | {r['what']}{extra} | {value} | {floor} | {ratio} | {r['target']} | {met} |")
