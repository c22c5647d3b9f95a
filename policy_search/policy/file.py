"""The policy file: versioned JSON envelope, field validators, and the errors that name the offending field.

Layout (docs/ARCHITECTURE.md, "Policy file"; user-facing description in docs/POLICIES.md)::

    {"format": "policy-search/policy", "version": 1,
     "magnitude_semantics": {"space": "standard", "reference": "torchvision.transforms.v2", "num_bins": 31},
     "kind": "subpolicies", "body": {...}, "image_spec": {"channels": 3, "height": 32, "width": 32},
     "provenance": {"task": ..., "agent": ..., "search_budget": ..., "compute_spent": ...,
                    "library_version": ..., "seed": ...}}

This module knows the envelope only; what a ``body`` holds belongs to each policy kind in
``policy_search/policy.py``. It imports nothing from the policy module, so both directions stay simple.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

FORMAT = "policy-search/policy"
VERSION = 1
SUPPORTED_VERSIONS = (1,)
REFERENCE = "torchvision.transforms.v2"
TEXT_REFERENCE = "policy_search.ops.text"  # the reference of magnitude space "text" (rates, EDA's alpha)
TOP_LEVEL_KEYS = ("format", "version", "magnitude_semantics", "kind", "body", "image_spec", "provenance")
PROVENANCE_KEYS = ("task", "agent", "search_budget", "compute_spent", "library_version", "seed")


class PolicyConfigError(ValueError):
    """A policy argument or file field is invalid. ``field`` is its dotted path (``subpolicies[3][1].op``)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class PolicyFileError(PolicyConfigError):
    """A policy file cannot be read: bad JSON, wrong format or version, or an invalid field (named)."""

    def __init__(self, field: str, reason: str, source: str | None = None) -> None:
        super().__init__(field, reason)
        self.source = source
        if source:
            self.args = (f"{source}: {self.args[0]}",)


# Upper bounds of what a policy file may ask for: far above any published policy (AutoAugment 10 bins,
# torchvision 31, RandAugment N <= 3), far below what would exhaust memory or time while loading or sampling.
MAX_NUM_BINS = 1024
MAX_NUM_OPS = 32
MAX_DEPTH = 64  # nesting of JSON objects and arrays (a controller's weights are 3 deep, a schedule of sequences ~10)
MAX_FILE_BYTES = 16 * 1024 * 1024
# JSON arrays and objects in one file: a controller's weights are a few hundred, a long schedule a few thousand.
# Counted on the text before parsing, so a file of millions of empty lists is refused in milliseconds, not after
# gigabytes of parsing.
MAX_CONTAINERS = 100_000
MAX_SUBPOLICIES = 4096  # rows of a sub-policy table (AutoAugment has 25; a distilled phase 20)
MAX_POLICIES = 256  # policies in a sequence or phases in a schedule


def join(where: str, key: str | int) -> str:
    """Dotted/indexed field path: join("body", "phases") -> "body.phases"; join("a", 3) -> "a[3]"."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def _show(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, (str, bool)) or value is None else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def as_object(value: Any, where: str, allowed: Iterable[str] | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PolicyConfigError(where, f"expected an object, got {type(value).__name__} {_show(value)}")
    if allowed is not None:
        allowed = tuple(allowed)
        unknown = [k for k in value if k not in allowed]
        if unknown:
            raise PolicyConfigError(join(where, unknown[0]), f"unknown field; expected only {', '.join(allowed)}")
    return value


def get(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise PolicyConfigError(join(where, key), "missing field")
    return obj[key]


def as_list(value: Any, where: str) -> list[Any]:
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, list):
        raise PolicyConfigError(where, f"expected a list, got {type(value).__name__} {_show(value)}")
    return value


def as_number(value: Any, where: str, low: float | None = None, high: float | None = None) -> float:
    # bool is an int subclass in Python; `true` as a probability is a typo, not 1.0.
    if not isinstance(value, bool) and not isinstance(value, (int, float)) and hasattr(value, "item"):
        value = value.item() if getattr(value, "ndim", 0) == 0 else value  # 0-d tensor / numpy scalar
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PolicyConfigError(where, f"expected a number, got {type(value).__name__} {_show(value)}")
    value = float(value)
    if not math.isfinite(value):
        raise PolicyConfigError(where, f"{value!r} is not a finite number")
    if (low is not None and value < low) or (high is not None and value > high):
        raise PolicyConfigError(where, f"{value!r} is outside [{_fmt(low)}, {_fmt(high)}]")
    return value


def as_int(value: Any, where: str, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise PolicyConfigError(where, f"expected an integer, got {type(value).__name__} {_show(value)}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise PolicyConfigError(where, f"{value} is not {bounds}")
    return value


def as_bool(value: Any, where: str) -> bool:
    """A JSON true/false (not 0/1 or "no": a string would read as true)."""
    if not isinstance(value, bool):
        raise PolicyConfigError(where, f"expected true or false, got {_show(value)}")
    return value


def as_choice(value: Any, where: str, choices: Iterable[str], what: str = "value") -> str:
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        raise PolicyConfigError(where, f"{_show(value)} is not a valid {what}; valid: {', '.join(choices)}")
    return value


def _fmt(x: float | None) -> str:
    if x is None:
        return "inf"
    return str(int(x)) if float(x).is_integer() else repr(x)


def check_semantics(value: Any, where: str, spaces: Iterable[str]) -> dict[str, Any]:
    """Validate a ``magnitude_semantics`` object; returns it with ``num_bins`` defaulted to None."""
    obj = as_object(value, where, allowed=("space", "reference", "num_bins"))
    as_choice(get(obj, "space", where), join(where, "space"), spaces, "magnitude space")
    reference = get(obj, "reference", where)
    expected = TEXT_REFERENCE if obj["space"] == "text" else REFERENCE
    if reference != expected:
        raise PolicyConfigError(join(where, "reference"), f"{_show(reference)} is not supported; expected {expected!r}")
    num_bins = obj.get("num_bins")
    if num_bins is not None:
        as_int(num_bins, join(where, "num_bins"), low=2, high=MAX_NUM_BINS)
    return {"space": obj["space"], "reference": expected, "num_bins": num_bins}


def check_image_spec(value: Any, where: str = "image_spec") -> dict[str, int]:
    obj = as_object(value, where, allowed=("channels", "height", "width"))
    channels = get(obj, "channels", where)
    if as_int(channels, join(where, "channels")) not in (1, 3):
        raise PolicyConfigError(join(where, "channels"), f"{channels} is not supported; expected 1 or 3")
    return {
        "channels": int(channels),
        "height": as_int(get(obj, "height", where), join(where, "height"), low=1),
        "width": as_int(get(obj, "width", where), join(where, "width"), low=1),
    }


def check_provenance(value: Any, where: str = "provenance") -> dict[str, Any]:
    """Every key of PROVENANCE_KEYS must be present (null allowed); extra keys are kept (free-form notes)."""
    obj = as_object(value, where)
    for key in PROVENANCE_KEYS:
        get(obj, key, where)
    for key in ("task", "agent", "library_version"):
        if obj[key] is not None and not isinstance(obj[key], str):
            raise PolicyConfigError(join(where, key), f"expected a string or null, got {_show(obj[key])}")
    if obj["seed"] is not None:
        as_int(obj["seed"], join(where, "seed"))
    for key in ("search_budget", "compute_spent"):
        if isinstance(obj[key], float) and not math.isfinite(obj[key]):
            raise PolicyConfigError(join(where, key), f"{obj[key]!r} is not a finite number")
    return obj


def default_provenance(library_version: str) -> dict[str, Any]:
    return {
        "task": None,
        "agent": None,
        "search_budget": None,
        "compute_spent": None,
        "library_version": library_version,
        "seed": None,
    }


def read_document(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a policy file and validate its envelope (not its body). Raises PolicyFileError naming the field."""
    source = str(path)
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            raise PolicyFileError(
                "", f"{size:,} bytes is over the {MAX_FILE_BYTES:,}-byte limit of a policy file", source
            )
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyFileError("", f"not UTF-8 text ({exc.reason}); a policy file is JSON", source) from None
    except OSError as exc:
        raise PolicyFileError("", f"cannot be read ({exc.strerror or exc})", source) from None
    containers = text.count("[") + text.count("{")
    if containers > MAX_CONTAINERS:
        raise PolicyFileError(
            "", f"holds {containers:,} JSON arrays and objects, over the limit of {MAX_CONTAINERS:,}", source
        )
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        reason = f"line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg})"
        raise PolicyFileError("", reason, source) from None
    except ValueError as exc:  # NaN / Infinity
        raise PolicyFileError("", str(exc), source) from None
    except RecursionError:
        raise PolicyFileError(
            "", f"nested deeper than {MAX_DEPTH} levels; a policy file is shallow JSON", source
        ) from None
    depth = _depth(doc)
    if depth > MAX_DEPTH:
        raise PolicyFileError("", f"nested {depth} levels deep, over the limit of {MAX_DEPTH}", source)
    try:
        check_envelope(doc)
    except PolicyFileError:
        raise
    except PolicyConfigError as exc:
        raise PolicyFileError(exc.field, exc.reason, source) from None
    return doc


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number a policy file may hold (only finite numbers)")


def _depth(value: Any) -> int:
    """Nesting depth of parsed JSON, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                stack.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def check_envelope(doc: Any) -> None:
    """Validate format, version, key set, image_spec and provenance of a whole policy document."""
    if not isinstance(doc, dict):
        raise PolicyConfigError("", f"expected a JSON object at the top level, got {type(doc).__name__}")
    fmt = get(doc, "format", "")
    if fmt != FORMAT:
        raise PolicyConfigError("format", f"{_show(fmt)} is not a policy file; expected {FORMAT!r}")
    version = get(doc, "version", "")
    if isinstance(version, bool) or not isinstance(version, int) or version not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        raise PolicyConfigError(
            "version",
            f"{_show(version)} is not supported; this library reads {FORMAT} version {supported} "
            "(a newer file needs a newer policy-search)",
        )
    as_object(doc, "", allowed=TOP_LEVEL_KEYS)
    for key in TOP_LEVEL_KEYS:
        get(doc, key, "")
    check_image_spec(doc["image_spec"])
    check_provenance(doc["provenance"])


def write_document(path: str | os.PathLike[str], doc: dict[str, Any]) -> Path:
    check_envelope(doc)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # allow_nan=False: NaN/Infinity are not JSON and other readers reject them. Atomic: a full disk or a kill
    # leaves the previous file (or none), never a torn one.
    from policy_search.outputs import atomic_write_text

    return atomic_write_text(target, json.dumps(doc, indent=2, allow_nan=False) + "\n")
