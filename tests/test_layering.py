"""The house rules of the package layout (issue 12), checked on the source, imports inside functions included:

    ops -> policy -> child -> generative -> envs / agents / benchmark -> train_agent -> search

A module imports only modules of its own layer or below, never in a cycle; commands (``__main__``, ``cli``,
``benchmark_report``) and the package root sit on top and nothing in the library imports them. Imports under
``if TYPE_CHECKING:`` do not count. Importing the package leaves torch's thread setting alone.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SOURCES = {
    "policy_search": REPO / "policy_search",
    "policy_search.envs": REPO / "envs",
    "policy_search.agents": REPO / "agents",
}
LAYERS = [  # (module-name prefix, layer); the longest matching prefix wins
    ("policy_search._version", 0),
    ("policy_search.threads", 0),
    ("policy_search.config", 0),
    ("policy_search.outputs", 0),
    ("policy_search.dispatch", 0),
    ("policy_search.ops", 1),
    ("policy_search.policy", 2),
    ("policy_search.child", 3),
    ("policy_search.generative", 4),
    ("policy_search.envs", 5),
    ("policy_search.agents", 5),
    ("policy_search.benchmark", 5),
    ("policy_search.train_agent", 6),
    ("policy_search.search", 7),
]
COMMAND = 9


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = [p for p in path.relative_to(folder).with_suffix("").parts if p != "__init__"]
            found[".".join([package, *parts])] = path
    return found


def layer(name: str) -> int:
    leaf = name.rsplit(".", 1)[-1]
    if name == "policy_search" or leaf in ("__main__", "cli") or name == "policy_search.benchmark_report":
        return COMMAND
    matches = [(len(prefix), level) for prefix, level in LAYERS if name == prefix or name.startswith(prefix + ".")]
    assert matches, f"{name} belongs to no layer: add it to LAYERS in tests/test_layering.py"
    return max(matches)[1]


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    skipped = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    out = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known else module for a in node.names]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


def test_every_import_points_down_the_layers_and_none_forms_a_cycle():
    known = modules()
    graph = {name: imports(name, path, known) for name, path in known.items()}
    upward = [
        f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})"
        for a, targets in graph.items()
        for b in targets
        if layer(b) > layer(a)
    ]
    assert not upward, "imports against the layering:\n" + "\n".join(sorted(upward))
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt) :] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_checker_sees_imports_inside_functions(tmp_path):
    source = tmp_path / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import policy_search.search.study\n"
        "def f():\n    from policy_search.policy import base\n"
    )
    known = modules()
    assert imports("policy_search.ops.image.lut", source, known) == {"policy_search.policy.base"}


def test_at_most_twelve_modules_sit_directly_in_the_package():
    direct = sorted(p.name for p in (REPO / "policy_search").glob("*.py"))
    assert len(direct) <= 12, direct


@pytest.mark.parametrize("module", ["policy_search", "policy_search.policy", "policy_search.envs.augment_env"])
def test_importing_the_library_leaves_torch_threads_alone(module):
    code = (
        f"import torch; torch.set_num_threads(2); n = torch.get_num_threads(); import {module}; "
        "assert torch.get_num_threads() == n, torch.get_num_threads()"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "POLICY_SEARCH_THREADS"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]


def test_loading_a_policy_does_not_import_generator_training():
    code = (
        "import sys, policy_search; from policy_search.policy import load_policy, RandAugment; "
        "assert 'policy_search.generative.train' not in sys.modules, sorted(sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]


COMMANDS = {
    "train_agent": "policy_search.train_agent",
    "child": "policy_search.child.cli",
    "search": "policy_search.search.study",
    "benchmark": "policy_search.benchmark.harness",
    "benchmark_report": "policy_search.benchmark.report",
    "generative": "policy_search.generative.cli",
    "search curve": "policy_search.search.curve",
    "search compare": "policy_search.search.compare",
    "search race": "policy_search.search.race",
}


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_of_every_command_says_what_it_does(command):
    import argparse
    import importlib

    parser = importlib.import_module(COMMANDS[command]).build_parser()
    bare = [
        a.option_strings
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction) and (not a.help or a.help.startswith(("--", "(default")))
    ]
    assert not bare, f"{command}: options without a description: {bare}"
    text = parser.format_help()
    for flag in ("--config",) if command == "benchmark_report" else ("--out", "--config"):  # it rewrites in place
        assert flag in text, f"{command} has no {flag}"


@pytest.mark.parametrize("command", ["train_agent", "child", "search"])
def test_config_files_feed_every_command_and_bad_ones_fail_in_one_line(command, tmp_path, capsys):
    import importlib

    from policy_search.config import parse_config

    module = importlib.import_module(COMMANDS[command])
    cls = {"train_agent": "TrainConfig", "child": "ChildConfig", "search": "SearchConfig"}[command]
    cls = getattr(module, cls)
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"seed": 7, "out": "elsewhere"}))
    config = parse_config(cls, module.build_parser(), ["--config", str(good), "--seed", "3"])
    assert (config.seed, config.out) == (3, "elsewhere")  # the file sets, the flag given overrides
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"sede": 7}))
    with pytest.raises(SystemExit) as exit_info:
        parse_config(cls, module.build_parser(), ["--config", str(bad)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "sede" in err and len(err.splitlines()) == 1


MAX_FUNCTION_LINES = 60  # issue 34: orchestration reads as plan -> run -> aggregate -> write, each step short


def _code_lines(node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines from the first statement after the docstring to the end of the function (comments and blank lines
    inside count: they are part of what a reader reads)."""
    body = node.body
    first = body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        if len(body) == 1:
            return 0
        first = body[1]
    assert node.end_lineno is not None
    return node.end_lineno - first.lineno + 1


def test_every_library_function_is_at_most_sixty_lines_of_code():
    long = []
    for root in SOURCES.values():
        for path in sorted(root.rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = _code_lines(node)
                    if lines > MAX_FUNCTION_LINES:
                        long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, "split these into named steps: " + "; ".join(long)


def test_the_size_rule_sees_a_long_function(tmp_path):
    source = "def f():\n    '''doc'''\n" + "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES + 1))
    node = ast.parse(source).body[0]
    assert isinstance(node, ast.FunctionDef) and _code_lines(node) == MAX_FUNCTION_LINES + 1
