"""Every public name of the published package is at its import path here, with a compatible signature.

The published surface is the snapshot in tests/data/published_api.json (taken by
tests/tools/snapshot_published_api.py). "Compatible" means: the same parameter names, the
published positional parameters in the same order, a default wherever the published one has one
(the same default, unless listed), and any parameter of ours the published one lacks optional; the
same dataclass fields in the same order with the same defaults; the same enum members; every
public method and property. Deliberate differences are listed in DIFFERENCES and in
docs/migrating.md's "API differences" section, and the two lists must agree.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import inspect
import json
import re
from pathlib import Path
from typing import Any

import pytest
from tools.snapshot_published_api import field_default

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = json.loads((ROOT / "tests" / "data" / "published_api.json").read_text())

# Deliberate differences, each also a line of docs/migrating.md ("API differences").
DIFFERENCES = {
    "sentrial.redact:PiiConfig.enabled": "PII redaction is on by default",
    "sentrial.client:MAX_RETRIES": "retries are bounded by retry_timeout, not counted",
    "sentrial.async_client:MAX_RETRIES": "retries are bounded by retry_timeout, not counted",
}

# Names still to come from other work, checked once present; while absent they must be listed here,
# and a name listed here that has arrived fails the test, so this list only shrinks.
NOT_YET: set[str] = set()

_EMPTY = inspect.Parameter.empty
_CALLED_BY_PYTHON = {"__exit__", "__aexit__"}
_POSITIONAL = ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")


def _entries() -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{module}:{name}", entry)
        for module, names in SNAPSHOT["modules"].items()
        for name, entry in names.items()
    ]


def _resolve(key: str) -> Any:
    module_name, name = key.split(":")
    module = importlib.import_module(module_name)
    return getattr(module, name)


def _ours_signature(obj: Any) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(obj).parameters.values())
    except ValueError:  # a class whose signature inspect cannot follow (a wrapt proxy): its __init__'s
        return list(inspect.signature(obj.__init__).parameters.values())[1:]


def signature_problems(where: str, published: list[dict[str, Any]], ours_obj: Any) -> list[str]:
    """How our callable's parameters fall short of the published ones (empty when compatible)."""
    ours = _ours_signature(ours_obj)
    if published and published[0]["name"] in ("self", "cls"):
        published = published[1:]
        ours = ours[1:]
    problems = []
    by_name = {p.name: p for p in ours}
    catch_all = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in ours)
    ours_positional = [p.name for p in ours if p.kind.name in _POSITIONAL]
    published_positional = [p["name"] for p in published if p["kind"] in _POSITIONAL]
    if ours_positional[: len(published_positional)] != published_positional:
        problems.append(f"{where}: positional order {ours_positional} != {published_positional}")
    for param in published:
        if param["kind"] in ("VAR_POSITIONAL", "VAR_KEYWORD"):
            kind = getattr(inspect.Parameter, param["kind"])
            if not any(p.kind is kind for p in ours):
                problems.append(f"{where}: no {param['kind']} parameter")
            continue
        key = f"{where}.{param['name']}"
        mine = by_name.get(param["name"])
        if mine is None:
            if not catch_all:
                problems.append(f"{key}: missing")
            continue
        if param["default"] is not None:
            if mine.default is _EMPTY:
                problems.append(f"{key}: required here, optional there")
            elif repr(mine.default) != param["default"] and key not in DIFFERENCES:
                problems.append(f"{key}: default {mine.default!r} != {param['default']}")
    published_names = {p["name"] for p in published}
    for mine in ours:
        if mine.name in published_names or mine.kind.name.startswith("VAR_"):
            continue
        if mine.default is _EMPTY:
            problems.append(f"{where}.{mine.name}: required here, absent there")
    return problems


def _class_problems(key: str, entry: dict[str, Any], cls: Any) -> list[str]:
    problems = []
    if not inspect.isclass(cls):
        return [f"{key}: not a class"]
    if "enum" in entry:
        if not issubclass(cls, enum.Enum):
            return [f"{key}: not an enum"]
        members = {member.name: repr(member.value) for member in cls}
        if members != entry["enum"]:
            problems.append(f"{key}: members {members} != {entry['enum']}")
        return problems
    if entry.get("params") is not None:
        problems += signature_problems(key, entry["params"], cls)
    if "fields" in entry:
        problems += _field_problems(key, entry["fields"], cls)
    for name, method in entry.get("methods", {}).items():
        mine = inspect.getattr_static(cls, name, None)
        if mine is None:
            problems.append(f"{key}.{name}: missing")
            continue
        function = mine.__func__ if isinstance(mine, (staticmethod, classmethod)) else mine
        if name in _CALLED_BY_PYTHON:  # only ever called positionally: the names do not matter
            try:
                inspect.signature(function).bind(*(None for _ in method["params"]))
            except TypeError:
                problems.append(f"{key}.{name}: does not take {len(method['params'])} positional arguments")
        elif callable(function):
            problems += signature_problems(f"{key}.{name}", method["params"], function)
    for name in entry.get("properties", []):
        if inspect.getattr_static(cls, name, None) is None:
            problems.append(f"{key}.{name}: missing property")
    return problems


def _field_problems(key: str, published: list[dict[str, Any]], cls: Any) -> list[str]:
    if not dataclasses.is_dataclass(cls):
        return [f"{key}: not a dataclass"]
    ours = list(dataclasses.fields(cls))
    names = [f.name for f in ours]
    wanted = [f["name"] for f in published]
    problems = []
    if names[: len(wanted)] != wanted:
        problems.append(f"{key}: field order {names} != {wanted}")
    for field, want in zip(ours, published, strict=False):
        if field.name != want["name"] or want["default"] is None:
            continue
        default = field_default(field)
        if default != want["default"] and f"{key}.{field.name}" not in DIFFERENCES:
            problems.append(f"{key}.{field.name}: default {default} != {want['default']}")
    return problems


def problems_of(key: str, entry: dict[str, Any]) -> list[str]:
    """Everything about our name at this key that is not compatible with the published entry."""
    try:
        ours = _resolve(key)
    except (ImportError, AttributeError):
        return [f"{key}: missing"]
    if entry["kind"] == "class":
        return _class_problems(key, entry, ours)
    if entry["kind"] == "function":
        if not callable(ours):
            return [f"{key}: not callable"]
        return signature_problems(key, entry["params"], ours) if entry["params"] is not None else []
    return []


def test_snapshot_is_of_the_published_package() -> None:
    assert SNAPSHOT["version"] == "0.6.0"
    assert len(_entries()) > 90


@pytest.mark.parametrize("key,entry", _entries(), ids=[key for key, _ in _entries()])
def test_published_name_is_compatible(key: str, entry: dict[str, Any]) -> None:
    problems = problems_of(key, entry)
    if key in NOT_YET:
        assert problems == [f"{key}: missing"], f"{key} has arrived: take it off NOT_YET"
        return
    problems = [p for p in problems if p.split(":", 1)[0] + ":" + p.split(":", 2)[1] not in DIFFERENCES]
    assert problems == []


def _migrating_keys() -> set[str]:
    text = (ROOT / "docs" / "migrating.md").read_text()
    section = text.split("## API differences", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^- `([\w.]+:[\w.]+)`", section, flags=re.MULTILINE))


def test_differences_agree_with_the_migration_notes() -> None:
    assert _migrating_keys() == set(DIFFERENCES)


@pytest.mark.parametrize("key", sorted(DIFFERENCES))
def test_each_listed_difference_is_real(key: str) -> None:
    """A listed difference that no longer differs is taken off both lists."""
    module_name, dotted = key.split(":")
    name = dotted.split(".")[0]
    entry = SNAPSHOT["modules"][module_name][name]
    saved = DIFFERENCES.pop(key)
    try:
        assert problems_of(f"{module_name}:{name}", entry), f"{key} no longer differs"
    finally:
        DIFFERENCES[key] = saved
