"""The README's code that claims to run as it is does run."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_online_loop_snippet_runs(capsys):
    text = README.read_text()
    block = re.search(r"<!-- online-loop -->\s*```python\n(.*?)```", text, re.S)
    assert block, "README lost its online-loop block"
    namespace: dict = {}
    exec(compile(block.group(1), "README.md:online-loop", "exec"), namespace)
    online = namespace["online"]
    assert online.trace, "the README loop never credited the actor"
    assert "{" in capsys.readouterr().out
