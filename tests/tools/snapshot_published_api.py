"""Record the public surface of an installed `sentrial` package as JSON.

Run by hand in a scratch virtualenv holding the published package (``pip install
sentrial==0.6.0``), from a directory outside this repository so that the installed
package is the one imported::

    python tests/tools/snapshot_published_api.py > tests/data/published_api.json

The output lists, per module, every public name with its kind and, where it has
one, its signature (parameter names, kinds, order, default reprs), the fields of a
dataclass, the members of an enum and the public methods and properties of a
class. tests/test_published_api.py checks ours against it.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import importlib
import inspect
import json
import sys
from typing import Any, TypeVar

# The integration modules (langchain, claude_code, autogen, crewai,
# langfuse_integration) are recorded by their own snapshot.
MODULES = [
    "sentrial",
    "sentrial.client",
    "sentrial.async_client",
    "sentrial.decorators",
    "sentrial.wrappers",
    "sentrial.batcher",
    "sentrial.types",
    "sentrial.redact",
    "sentrial.pricing",
    "sentrial.otel",
]


def describe_signature(func: Any) -> list[dict[str, Any]] | None:
    """Each parameter's name, kind and default repr (None without a default)."""
    try:
        signature = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    params = []
    for param in signature.parameters.values():
        default = None if param.default is inspect.Parameter.empty else repr(param.default)
        params.append({"name": param.name, "kind": param.kind.name, "default": default})
    return params


def describe_callable(func: Any) -> dict[str, Any]:
    """A function's signature and whether calling it gives a coroutine."""
    return {
        "kind": "function",
        "async": inspect.iscoroutinefunction(func),
        "params": describe_signature(func),
    }


def field_default(field: Any) -> str | None:
    """A dataclass field's default as the snapshot writes it (a factory's product marked so)."""
    if field.default is not dataclasses.MISSING:
        return repr(field.default)
    if field.default_factory is not dataclasses.MISSING:
        return "factory:" + repr(field.default_factory())
    return None


def describe_class(cls: type) -> dict[str, Any]:
    """A class's constructor, methods, properties, dataclass fields and enum members."""
    entry: dict[str, Any] = {"kind": "class", "params": describe_signature(cls)}
    if issubclass(cls, enum.Enum):
        entry["enum"] = {member.name: repr(member.value) for member in cls}
        return entry
    if dataclasses.is_dataclass(cls):
        fields = []
        for field in dataclasses.fields(cls):
            fields.append({"name": field.name, "default": field_default(field)})
        entry["fields"] = fields
    methods: dict[str, Any] = {}
    properties: list[str] = []
    public_dunders = {
        "__enter__",
        "__exit__",
        "__aenter__",
        "__aexit__",
        "__iter__",
        "__next__",
        "__aiter__",
        "__anext__",
        "__await__",
    }
    for name, attr in vars(cls).items():
        if name.startswith("_") and name not in public_dunders:
            continue
        if isinstance(attr, property):
            properties.append(name)
        elif isinstance(attr, (staticmethod, classmethod)):
            methods[name] = describe_callable(attr.__func__)
            methods[name]["binding"] = type(attr).__name__
        elif inspect.isfunction(attr):
            methods[name] = describe_callable(attr)
    entry["methods"] = methods
    entry["properties"] = sorted(properties)
    return entry


def module_constants(module: Any) -> list[str]:
    """UPPER_CASE names assigned at the top of the module's own source."""
    tree = ast.parse(inspect.getsource(module))
    names = []
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else ([node.target] if isinstance(node, ast.AnnAssign) else [])
        )
        for target in targets:
            if isinstance(target, ast.Name) and target.id.isupper() and not target.id.startswith("_"):
                names.append(target.id)
    return names


def public_names(module: Any) -> list[str]:
    """The names a user of the module may rely on."""
    if hasattr(module, "__all__"):
        return list(module.__all__)
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, TypeVar):
            continue
        own = getattr(value, "__module__", "") == module.__name__
        if (inspect.isclass(value) or inspect.isfunction(value)) and own:
            names.append(name)
    constants = [n for n in module_constants(module) if not isinstance(getattr(module, n), TypeVar)]
    return names + [n for n in constants if n not in names]


def describe(value: Any) -> dict[str, Any]:
    """Whatever the value is, in the snapshot's terms."""
    if inspect.isclass(value):
        return describe_class(value)
    if callable(value):
        return describe_callable(value)
    return {"kind": "value", "type": type(value).__name__}


def snapshot() -> dict[str, Any]:
    """The whole surface, module by module."""
    import sentrial

    modules = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        modules[module_name] = {name: describe(getattr(module, name)) for name in public_names(module)}
    return {"package": "sentrial", "version": getattr(sentrial, "__version__", None), "modules": modules}


if __name__ == "__main__":
    json.dump(snapshot(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
