"""Command configs: one dataclass per command; its field docstrings are the ``--help`` text of its options.

Every command (``train_agent``, ``child``, ``search``; ``benchmark`` reads the same ``--config`` JSON) builds its
parser here, so the same concept gets the same flag and every option says what it does::

    parser = dataclass_parser(TrainConfig, prog="python -m policy_search.train_agent", description=__doc__)
    config = parse_config(TrainConfig, parser, argv)     # --config FILE.json, then flags on top

Hand-written (about a hundred lines) rather than ``tyro`` or ``simple-parsing``: those read docstrings the same
way but add a dependency and their own flag conventions, and the commands here need ours: ``--no-X`` for booleans,
short aliases kept for recorded commands (``--heartbeat`` for ``heartbeat_s``), ``--config`` files whose unknown
keys are errors, and one-line ``error:`` messages with exit code 2.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import inspect
import json
import math
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_TYPES: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "str": str}


def field_docs(cls: type) -> dict[str, str]:
    """``{field: docstring}`` for a dataclass whose fields are each followed by a string literal."""
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, following in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
            ):
                docs[node.target.id] = " ".join(following.value.value.split())
    return docs


def _value_type(annotation: Any) -> Callable[[str], Any]:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    parts = [p.strip() for p in text.split("|") if p.strip() != "None"]
    return _TYPES.get(parts[0], str) if len(parts) == 1 else str


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def dataclass_parser(
    cls: type,
    *,
    prog: str,
    description: str | None = None,
    epilog: str | None = None,
    flags: dict[str, Sequence[str]] | None = None,
    skip: Sequence[str] = (),
    choices: dict[str, Sequence[Any]] | None = None,
    shown: dict[str, Sequence[Any]] | None = None,
) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with one option per field of ``cls`` (help = the field's docstring and default),
    plus ``--config FILE.json``. ``flags`` renames or aliases a field's flags; ``skip`` leaves fields out (the
    caller adds its own option for them); ``choices`` are enforced by argparse; ``shown`` only lists a field's
    choices in the usage line (the command's own validation names the bad value and the valid ones)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, epilog=epilog, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config",
        metavar="FILE.json",
        default=None,
        help="read options from a JSON object keyed by field name (flags given too override it)",
    )
    docs = field_docs(cls)
    defaults = cls()
    for f in dataclasses.fields(cls):
        if f.name in skip:
            continue
        names = list((flags or {}).get(f.name, [flag_of(f.name)]))
        default = getattr(defaults, f.name)
        doc = docs.get(f.name) or f.name.replace("_", " ")
        doc = doc.replace("%", "%%") + ("" if "default" in doc.lower() else f" (default: {default})")
        if isinstance(default, bool):
            parser.add_argument(*names, dest=f.name, action=argparse.BooleanOptionalAction, default=default, help=doc)
            continue
        kwargs: dict[str, Any] = {"dest": f.name, "default": default, "type": _value_type(f.type), "help": doc}
        if isinstance(default, tuple):  # tuple[int, ...] / tuple[str, ...]: several values after one flag
            inner = str(f.type).removeprefix("tuple[").split(",")[0].strip()
            kwargs.update(nargs=f.metadata.get("nargs", "*"), type=_TYPES.get(inner, str))  # "+": one value at least
        if choices and f.name in choices:
            kwargs["choices"] = list(choices[f.name])
        elif shown and f.name in shown:
            kwargs["metavar"] = "{" + ",".join(str(c) for c in shown[f.name]) + "}"
        parser.add_argument(*names, **kwargs)
    return parser


class ConfigFileError(ValueError):
    """A ``--config`` file that cannot be read or has keys the command does not know."""


def read_config_file(path: str | Path, valid: Sequence[str]) -> dict[str, Any]:
    """The JSON object in ``path``; raises ``ConfigFileError`` with one line saying what is wrong."""
    file = Path(path)
    if not file.is_file():
        raise ConfigFileError(f"config file {str(path)!r} does not exist")
    try:
        values = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"{path}: cannot be read ({exc})") from None
    except json.JSONDecodeError as exc:
        raise ConfigFileError(f"{path}: line {exc.lineno}: not valid JSON ({exc.msg})") from None
    if not isinstance(values, dict):
        raise ConfigFileError(f"{path}: must hold a JSON object keyed by option name, got {type(values).__name__}")
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ConfigFileError(f"{path}: unknown key(s) {unknown}; valid keys: {', '.join(valid)}")
    return values


# What each checked kind accepts, said in words for the error line.
_KIND_WORDS = {"bool": "true or false", "int": "a whole number", "float": "a finite number", "str": "a string"}


def _fits(kind: str, value: Any) -> bool:
    """Whether JSON ``value`` fits one kind of an annotation (kinds not checked here always fit)."""
    if kind.startswith("tuple["):
        inner = kind.removeprefix("tuple[").split(",")[0].strip()
        return isinstance(value, list) and all(_fits(inner, item) for item in value)
    if kind.startswith("dict["):
        return isinstance(value, dict)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "str":
        return isinstance(value, str)
    return True


def _words(kind: str) -> str:
    if kind.startswith("tuple["):
        inner = kind.removeprefix("tuple[").split(",")[0].strip()
        return f"a list of {_KIND_WORDS.get(inner, inner).removeprefix('a ')}s" if inner in _KIND_WORDS else "a list"
    return "an object" if kind.startswith("dict[") else _KIND_WORDS.get(kind, kind)


def json_type_error(annotation: Any, value: Any) -> str | None:
    """Why ``value`` (read from JSON) does not fit a field annotated ``annotation``, or None if it does. Checked:
    int, float, bool, str, ``tuple[X, ...]`` (a JSON list) and ``dict[...]``, and unions of them (``| None``
    included); anything else passes."""
    text = annotation if isinstance(annotation, str) else str(annotation)
    kinds = [p.strip() for p in text.split("|")]
    if value is None and "None" in kinds:
        return None
    kinds = [k for k in kinds if k != "None"]
    if any(_fits(kind, value) for kind in kinds):
        return None
    lists = [k for k in kinds if k.startswith("tuple[")]
    if isinstance(value, list) and len(lists) == 1:  # a list of the right shape: name the item that is wrong
        inner = lists[0].removeprefix("tuple[").split(",")[0].strip()
        bad = next(item for item in value if not _fits(inner, item))
        return f"expected {_words(inner)}, got {json.dumps(bad)} in the list"
    return f"expected {' or '.join(_words(k) for k in kinds)}, got {json.dumps(value)}"


def parse_config(
    cls: type,
    parser: argparse.ArgumentParser,
    argv: Sequence[str] | None = None,
    convert: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Any:
    """Parse ``argv`` into a ``cls``: defaults, then ``--config FILE.json``, then the flags given. A bad config
    file exits with code 2 and one ``error:`` line, as argparse does for a bad flag."""
    names = [f.name for f in dataclasses.fields(cls)]
    first, _ = parser.parse_known_args(argv)
    if first.config:
        try:
            values = read_config_file(first.config, names)
        except ConfigFileError as exc:
            parser.exit(2, f"error: {exc}\n")
        types = {f.name: f.type for f in dataclasses.fields(cls)}
        choices = {a.dest: list(a.choices) for a in parser._actions if a.choices is not None and a.option_strings}
        for key, value in values.items():  # JSON is not argparse: check each value against its field's type
            why = json_type_error(types[key], value)
            if why is None and key in choices:  # ... and against the option's choices, as argparse does for a flag
                bad = [v for v in (value if isinstance(value, list) else [value]) if v not in choices[key]]
                if value is not None and bad:
                    why = f"{json.dumps(bad[0])} is not one of {', '.join(map(str, choices[key]))}"
            if why is not None:
                parser.exit(2, f"error: {first.config}: {key!r}: {why}\n")
        appended = {a.dest for a in parser._actions if isinstance(a, argparse._AppendAction)}
        parser.set_defaults(
            **{k: list(v.items()) if k in appended and isinstance(v, dict) else v for k, v in values.items()}
        )
    values = vars(parser.parse_args(argv))
    values.pop("config", None)
    defaults = cls()
    for f in dataclasses.fields(cls):  # lists from nargs (or a JSON file) back to the field's tuple
        if isinstance(getattr(defaults, f.name), tuple) and isinstance(values.get(f.name), list):
            values[f.name] = tuple(values[f.name])
    for key in ("out", "out_dir"):  # an empty folder name would write into the current folder
        if key in names and isinstance(values.get(key), str) and not values[key].strip():
            parser.exit(2, f"error: {flag_of(key)} is empty; name the folder the outputs go to\n")
    if convert is not None:
        values = convert(values)
    return cls(**{k: v for k, v in values.items() if k in names})


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` with the value read as JSON when it parses (numbers, true/false/null), else as a string."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"--set expects KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def add_set_option(parser: argparse.ArgumentParser, help: str) -> None:
    """``--set KEY=VALUE`` (repeatable) into the ``overrides`` field: task preset overrides, shared by ``child``,
    ``search`` and ``search compare``; ``parse_config(..., convert=overrides_to_dict)`` turns the pairs into the
    field's dict."""
    parser.add_argument(
        "--set", type=parse_override, action="append", default=[], dest="overrides", metavar="KEY=VALUE", help=help
    )


def argv_of(obj: Any) -> list[str]:
    """The options of ``dataclass_parser(type(obj))`` (with ``--set`` for an ``overrides`` dict) that rebuild
    ``obj``: every field that differs from its default. For the command.txt of a run started from Python, where
    ``sys.argv`` is the caller's."""
    defaults, argv = type(obj)(), []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if value == getattr(defaults, f.name):
            continue
        if f.name == "overrides":
            argv += [a for k, v in value.items() for a in ("--set", f"{k}={json.dumps(v)}")]
        elif isinstance(value, bool):
            argv.append(flag_of(f.name) if value else "--no-" + f.name.replace("_", "-"))
        elif isinstance(value, (tuple, list)):
            argv += [flag_of(f.name), *map(str, value)]
        elif value is not None:
            argv += [flag_of(f.name), str(value)]
        elif "none_flag" in f.metadata:  # None where the default is not: the word the option reads as None
            argv += [flag_of(f.name), f.metadata["none_flag"]]
    return argv


def overrides_to_dict(values: dict[str, Any]) -> dict[str, Any]:
    """The ``(key, value)`` pairs of ``--set`` (or a ``--config`` file's object) as the ``overrides`` dict."""
    return {**values, "overrides": dict(values["overrides"])}
