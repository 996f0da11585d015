"""The schema compatibility gate: the current schemas read what earlier releases wrote.

Cap'n Proto evolves safely only by appending: a field keeps its ordinal, name
and type for ever; a union member keeps its discriminant; an enumerant keeps
its number (Source: the Cap'n Proto language guide, "Evolving your protocol").
``capnp`` 0.9's compiler has no compatibility command and libcapnp's
``SchemaLoader`` misses removed fields and swapped names, so this module does
both checks itself, per release kept in ``schemas/compat/<release>/``:

1. **Layout**: ``layout.json`` describes every struct and enum of that release
   (per node: each field's ordinal, name, type and union discriminant; each
   enumerant's number). :func:`compare_layouts` reports every field or
   enumerant that was removed, renumbered, renamed or retyped, naming it as
   ``stream.capnp:ServerMessage.groupFrame @0``.
2. **Messages**: ``messages.json`` holds, for every union member of every
   struct with a union, one message written by that release's schemas with
   every field set to a non-default value (base64 bytes plus the writer's own
   ``to_dict()``). :func:`read_problems` decodes each with the current schemas
   and reports any value that reads back differently.

A layout is read in a fresh interpreter (:func:`layout_of`), because pycapnp
aborts the process when a second copy of a loaded schema file (same file id)
is loaded (``Duplicate ID``): the gate can therefore read any folder of
``.capnp`` files, the current ones, an old release's, or a mutated copy.

Freeze a release (run it when a version is released; commit the folder)::

    python -m schemas.compat freeze 0.1.0

Check the current schemas against every kept release (what CI runs through
tests/schemas/test_compat.py)::

    python -m schemas.compat check
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

COMPAT_DIR = Path(__file__).resolve().parent / "compat"
"""One sub-folder per released version, holding ``layout.json`` and ``messages.json``."""

SCHEMA_FILES = ("market.capnp", "orders.capnp", "accounts.capnp", "stream.capnp", "actor.capnp",
                "tape.capnp", "flight.capnp")
"""The schema files, in dependency order (as schemas/__init__.py loads them)."""

_DUMP = r"""
import json, sys
import capnp
capnp.remove_import_hook()
folder, names = sys.argv[1], sys.argv[2:]

def type_of(t):
    kind = t.which()
    if kind == "list":
        return "List(" + type_of(t.list.elementType) + ")"
    if kind == "struct":
        return "struct:" + str(t.struct.typeId)
    if kind == "enum":
        return "enum:" + str(t.enum.typeId)
    return kind

nodes = {}
def walk(schema, file):
    node = schema.node
    key = str(node.id)
    if key in nodes:
        return
    name = node.displayName
    kind = node.which()
    if kind == "struct":
        fields = []
        for field in node.struct.fields:
            fields.append({"name": field.name, "ordinal": field.ordinal.explicit,
                           "type": type_of(field.slot.type),
                           "discriminant": field.discriminantValue})
        nodes[key] = {"name": name, "kind": "struct", "fields": fields}
        for nested in node.nestedNodes:
            walk(getattr(schema_parent(schema, name), nested.name).schema, file)
    elif kind == "enum":
        nodes[key] = {"name": name, "kind": "enum",
                      "enumerants": [e.name for e in node.enum.enumerants]}

modules = {}
def schema_parent(schema, name):
    file, _, path = name.partition(":")
    obj = modules[file]
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj

for file in names:
    module = capnp.load(folder + "/" + file, imports=[folder])
    modules[file] = module
    for nested in module.schema.node.nestedNodes:
        walk(getattr(module, nested.name).schema, file)
json.dump(nodes, sys.stdout, sort_keys=True)
"""


def layout_of(folder: str | Path, files: tuple[str, ...] = SCHEMA_FILES, timeout_s: float = 60.0) -> dict:
    """Describe every struct and enum of the ``.capnp`` files in ``folder``, read in a fresh interpreter.

    Returns:
        ``{node id (decimal str): {"name": "file.capnp:Struct", "kind": "struct", "fields": [{"name",
        "ordinal", "type", "discriminant"}]}}``, enums with ``"enumerants": [names in number order]``.
        A type is a builtin name (``"float64"``, ``"text"``), ``"struct:<id>"``, ``"enum:<id>"`` or
        ``"List(<type>)"``; ``discriminant`` is 65535 outside a union.

    Raises:
        RuntimeError: the schemas do not compile (the compiler's message attached).
    """
    result = subprocess.run([sys.executable, "-c", _DUMP, str(Path(folder).resolve()), *files],
                            capture_output=True, text=True, timeout=timeout_s, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"cannot read the schemas in {folder}: {result.stderr.strip()[-2000:]}")
    return json.loads(result.stdout)


def compare_layouts(old: dict, new: dict) -> list[str]:
    """Return every incompatible change from ``old`` to ``new`` (layouts from :func:`layout_of`).

    Compatible: new nodes, new fields with new ordinals, new enumerants at the end, new union members.
    Incompatible (each reported with the old field's full name): a node removed; a field removed,
    renamed, retyped, or moved in or out of a union or to another discriminant; an enumerant removed,
    renamed or renumbered. Struct and enum types are compared by node id.
    """
    problems: list[str] = []
    for node_id, before in sorted(old.items(), key=lambda item: item[1]["name"]):
        after = new.get(node_id)
        name = before["name"]
        if after is None:
            problems.append(f"{name}: removed (node id {node_id})")
            continue
        if before["kind"] == "enum":
            now = after.get("enumerants", [])
            for number, enumerant in enumerate(before["enumerants"]):
                if number >= len(now):
                    problems.append(f"{name}.{enumerant} = {number}: removed")
                elif now[number] != enumerant:
                    problems.append(f"{name}.{enumerant} = {number}: now {now[number]!r} has that number")
            continue
        fields = {field["ordinal"]: field for field in after.get("fields", [])}
        for field in before["fields"]:
            label = f"{name}.{field['name']} @{field['ordinal']}"
            current = fields.get(field["ordinal"])
            if current is None:
                renamed = [f for f in after.get("fields", []) if f["name"] == field["name"]]
                hint = f" (now @{renamed[0]['ordinal']}: renumbered)" if renamed else ""
                problems.append(f"{label}: removed{hint}")
                continue
            if current["name"] != field["name"]:
                problems.append(f"{label}: renamed to {current['name']!r}")
            if current["type"] != field["type"]:
                problems.append(f"{label}: retyped from {_type_name(field['type'], old)} to "
                                f"{_type_name(current['type'], new)}")
            if current["discriminant"] != field["discriminant"]:
                problems.append(f"{label}: union discriminant {field['discriminant']} -> "
                                f"{current['discriminant']}")
    return problems


def _type_name(type_: str, layout: dict) -> str:
    if type_.startswith("List("):
        return f"List({_type_name(type_[5:-1], layout)})"
    kind, _, node_id = type_.partition(":")
    if node_id:
        return layout.get(node_id, {}).get("name", type_)
    return type_


# -- fixture messages (written with the schemas loaded in this process) -------------------------------

_INT_BITS = {"int8": 7, "int16": 15, "int32": 31, "int64": 63, "uint8": 8, "uint16": 16, "uint32": 32,
             "uint64": 64}


def _value(kind: str, ordinal: int, index: int = 0) -> Any:
    seed = ordinal + 1 + 7 * index
    if kind == "bool":
        return True
    if kind in _INT_BITS:
        return seed % (1 << min(_INT_BITS[kind], 16)) or 1
    if kind in ("float32", "float64"):
        return seed + 0.5
    if kind == "text":
        return f"t{seed}"
    if kind == "data":
        return bytes([seed % 256, 1, 2])
    raise NotImplementedError(f"no fixture value for {kind}")


def _fill(builder: Any, member: str | None = None, depth: int = 0) -> None:
    """Set every non-union field and one union member (``member`` or the first) to non-default values."""
    schema = builder.schema
    union = list(schema.union_fields)
    chosen = member if member is not None else (union[0] if union else None)
    for name in [*schema.non_union_fields, *([chosen] if chosen else [])]:
        field = schema.fields[name]
        proto = field.proto
        ordinal = proto.ordinal.explicit
        kind = proto.slot.type.which()
        if kind == "void":
            setattr(builder, name, None)
        elif kind == "enum":
            enumerants = list(field.schema.enumerants)
            setattr(builder, name, enumerants[-1])
        elif kind == "struct":
            if depth < 6:
                _fill(builder.init(name), depth=depth + 1)
        elif kind == "list":
            element = proto.slot.type.list.elementType.which()
            items = builder.init(name, 2)
            for index in range(2):
                if element == "struct":
                    if depth < 6:
                        _fill(items[index], depth=depth + 1)
                else:
                    items[index] = _value(element, ordinal, index)
        else:
            setattr(builder, name, _value(kind, ordinal))


def fixture_messages() -> list[dict[str, Any]]:
    """Write one message per union member of every struct with a union, with this process's schemas.

    Returns:
        ``[{"struct": "stream.capnp:ServerMessage", "member": "groupFrame", "bytes": base64 text,
        "expected": the writer's to_dict()}]``, in a stable order.
    """
    import schemas

    out = []
    for module_name in [file.removesuffix(".capnp") for file in SCHEMA_FILES]:
        module = getattr(schemas, module_name)
        for nested in module.schema.node.nestedNodes:
            struct = getattr(module, nested.name)
            if not hasattr(struct, "new_message") or not struct.schema.union_fields:
                continue
            for member in struct.schema.union_fields:
                builder = struct.new_message()
                _fill(builder, member)
                data = builder.to_bytes()
                out.append({"struct": struct.schema.node.displayName, "member": member,
                            "bytes": base64.b64encode(data).decode(), "expected": _plain(builder.to_dict())})
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode()}
    return value


def _differences(expected: Any, actual: Any, where: str) -> list[str]:
    """What of ``expected`` (a writer's dict) ``actual`` (the reader's) lacks or reads differently."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: read as {actual!r}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                problems.append(f"{where}.{key}: not read (field gone or union member changed)")
            else:
                problems.extend(_differences(value, actual[key], f"{where}.{key}"))
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: read as {actual!r}"]
        return [p for i, (e, a) in enumerate(zip(expected, actual)) for p in _differences(e, a, f"{where}[{i}]")]
    if isinstance(expected, float) and isinstance(actual, float) and math.isclose(expected, actual, rel_tol=1e-6):
        return []
    return [] if expected == actual else [f"{where}: wrote {expected!r}, read {actual!r}"]


def read_problems(messages: list[dict[str, Any]]) -> list[str]:
    """Decode each fixture message with the current schemas; return what reads back differently."""
    import schemas

    problems = []
    for message in messages:
        file, _, name = message["struct"].partition(":")
        struct = getattr(getattr(schemas, file.removesuffix(".capnp")), name, None)
        where = f"{message['struct']}[{message['member']}]"
        if struct is None:
            problems.append(f"{where}: struct {name} is gone")
            continue
        try:
            with struct.from_bytes(base64.b64decode(message["bytes"]),
                                   traversal_limit_in_words=schemas.TRAVERSAL_LIMIT_WORDS,
                                   nesting_limit=schemas.NESTING_LIMIT) as reader:
                actual = _plain(reader.to_dict())
        except Exception as exc:  # noqa: BLE001 - any decode failure is a finding, reported with its text
            problems.append(f"{where}: cannot decode: {exc}")
            continue
        problems.extend(_differences(message["expected"], actual, where))
    return problems


def releases() -> list[Path]:
    """The kept releases' folders, oldest first."""
    return sorted((p for p in COMPAT_DIR.iterdir() if (p / "layout.json").exists()),
                  key=lambda p: [int(x) if x.isdigit() else x for x in p.name.split(".")]) \
        if COMPAT_DIR.exists() else []


def check(schema_dir: str | Path | None = None) -> list[str]:
    """Check the schemas in ``schema_dir`` (default: the current ones) against every kept release.

    Returns:
        Every problem, prefixed by its release (empty: compatible). Messages are decoded only for the
        current schemas (those loaded in this process).
    """
    import schemas

    folder = Path(schema_dir) if schema_dir is not None else schemas.SCHEMA_DIR
    current = layout_of(folder)
    problems = []
    for release in releases():
        old = json.loads((release / "layout.json").read_text())
        problems += [f"{release.name}: {p}" for p in compare_layouts(old, current)]
        if schema_dir is None:
            messages = json.loads((release / "messages.json").read_text())
            problems += [f"{release.name}: {p}" for p in read_problems(messages)]
    return problems


def freeze(release: str) -> Path:
    """Keep the current schemas' layout and fixture messages as ``release``; return its folder."""
    import schemas

    folder = COMPAT_DIR / release
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "layout.json").write_text(json.dumps(layout_of(schemas.SCHEMA_DIR), indent=1, sort_keys=True) + "\n")
    (folder / "messages.json").write_text(json.dumps(fixture_messages(), indent=1) + "\n")
    return folder


def main(argv: list[str] | None = None) -> int:
    """``python -m schemas.compat freeze <release> | check``; ``check`` exits 1 on a problem."""
    parser = argparse.ArgumentParser(prog="python -m schemas.compat", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("freeze").add_argument("release")
    sub.add_parser("check")
    args = parser.parse_args(argv)
    if args.command == "freeze":
        print(freeze(args.release))
        return 0
    problems = check()
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["COMPAT_DIR", "check", "compare_layouts", "fixture_messages", "freeze", "layout_of", "read_problems",
           "releases"]
