"""The code that the README and docs/USAGE.md say runs as it is does run."""

from __future__ import annotations

import re
from pathlib import Path

USAGE = Path(__file__).resolve().parents[1] / "docs" / "USAGE.md"  # the README links to it
README = USAGE.parent.parent / "README.md"


def test_online_loop_snippet_runs(capsys):
    text = USAGE.read_text()
    block = re.search(r"<!-- online-loop -->\s*```python\n(.*?)```", text, re.S)
    assert block, "docs/USAGE.md lost its online-loop block"
    namespace: dict = {}
    exec(compile(block.group(1), "docs/USAGE.md:online-loop", "exec"), namespace)
    online = namespace["online"]
    assert online.trace, "the docs/USAGE.md loop never credited the actor"
    assert "{" in capsys.readouterr().out


def test_every_figure_in_the_readme_findings_table_is_in_the_report_it_links():
    """Issue 34: the README's short table quotes its reports; a figure that is in none of the linked folder's
    Markdown files (its README, report.md) was typed by hand or has gone stale."""
    table = README.read_text().split("## What the experiments found", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "](" in line]
    assert len(rows) >= 8, "the README lost its findings table"
    for line in rows:
        cells = [c.strip() for c in line.strip("|").split("|")]
        link = re.search(r"\]\(([^)]+)\)", cells[-1])
        assert link, line
        folder = (README.parent / link.group(1)).parent
        text = "".join(p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.md")))
        figures = re.findall(r"\d+\.\d+", " ".join(cells[1:-1]))
        missing = [f for f in figures if f not in text]
        assert not missing, f"{cells[0]} ({link.group(1)}): {missing} not in {folder.name}'s reports"
