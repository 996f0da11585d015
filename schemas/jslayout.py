"""Generate ui/schema_layout.js, the browser's view of the Cap'n Proto schemas.

The browser decodes ServerMessage and builds ClientMessage with a small
hand-written reader (ui/capnp.js) that knows nothing about tickstage: it is
driven by the layout this module writes. The layout is derived from pycapnp's
schema introspection of the schema files in ``_FILES`` (the
single source of truth, schemas/README.md), so a schema change cannot silently
disagree with the browser: CI runs ``python -m schemas.jslayout --check``.

For every struct: data section size (words), pointer section size (words),
the byte offset of the union discriminant, the union members by discriminant
value, and each field's kind with its byte offset (data fields), bit offset
(``bool``) or pointer slot (pointer fields). For every enum: its enumerant
names by ordinal. Output is deterministic (schema file order, field order).

Usage::

    python -m schemas.jslayout           # rewrite ui/schema_layout.js
    python -m schemas.jslayout --check   # exit 1 when the committed file is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import schemas

LAYOUT_PATH = schemas.SCHEMA_DIR.parent / "ui" / "schema_layout.js"
"""Where the generated ES module lives (committed, served as /schema_layout.js)."""

_FILES = (("market.capnp", schemas.market), ("orders.capnp", schemas.orders),
          ("accounts.capnp", schemas.accounts), ("stream.capnp", schemas.stream),
          ("flight.capnp", schemas.flight))
"""Schema files the browser sees, in output order (actor.capnp is server-internal)."""

_DATA_BITS = {
    "bool": 1,
    "int8": 8,
    "uint8": 8,
    "int16": 16,
    "uint16": 16,
    "enum": 16,
    "int32": 32,
    "uint32": 32,
    "float32": 32,
    "int64": 64,
    "uint64": 64,
    "float64": 64,
}
_POINTER_KINDS = {"text", "data", "list", "struct"}


class LayoutError(ValueError):
    """A schema uses a feature the browser reader does not implement.

    Raised for groups, named unions, explicit defaults, interfaces and
    ``AnyPointer``, so the generator fails loudly instead of emitting a layout
    ui/capnp.js would misread. Subclasses ``ValueError``.
    """


def _nodes() -> dict[int, tuple[str, str, object]]:
    """Return type id → (name, file, pycapnp schema module) for every top-level node."""
    nodes: dict[int, tuple[str, str, object]] = {}
    names: set[str] = set()
    for file_name, module in _FILES:
        for nested in module.schema.node.nestedNodes:
            if nested.name in names:
                raise LayoutError(f"type name {nested.name} is defined twice; the layout keys by name")
            names.add(nested.name)
            nodes[nested.id] = (nested.name, file_name, getattr(module, nested.name))
    return nodes


def _type(type_proto, nodes, where: str) -> dict:
    """Describe a schema Type as {"kind": ..., plus "struct"/"enum"/"element"}."""
    kind = type_proto.which()
    if kind in _DATA_BITS or kind in ("void", "text", "data"):
        described: dict = {"kind": kind}
        if kind == "enum":
            described["enum"] = _type_name(type_proto.enum.typeId, nodes, where)
        return described
    if kind == "struct":
        return {"kind": "struct", "struct": _type_name(type_proto.struct.typeId, nodes, where)}
    if kind == "list":
        return {"kind": "list", "element": _type(type_proto.list.elementType, nodes, where)}
    raise LayoutError(f"{where}: type {kind} is not supported by ui/capnp.js")


def _type_name(type_id: int, nodes, where: str) -> str:
    if type_id not in nodes:
        raise LayoutError(f"{where}: type {type_id:#x} is not a top-level node of {[f for f, _ in _FILES]}")
    return nodes[type_id][0]


def _field(field_proto, nodes, where: str) -> dict:
    if field_proto.which() != "slot":
        raise LayoutError(f"{where}: groups and named unions are not supported by ui/capnp.js")
    slot = field_proto.slot
    if slot.hadExplicitDefault:
        raise LayoutError(f"{where}: explicit defaults are not supported by ui/capnp.js")
    described = _type(slot.type, nodes, where)
    kind = described["kind"]
    if kind in _POINTER_KINDS:
        described["pointer"] = slot.offset
    elif kind == "bool":
        described["bitOffset"] = slot.offset
    elif kind != "void":
        described["byteOffset"] = slot.offset * _DATA_BITS[kind] // 8
    if field_proto.discriminantValue != 0xFFFF:
        described["discriminant"] = field_proto.discriminantValue
    return described


def _struct(name: str, file_name: str, module, nodes) -> dict:
    node = module.schema.node
    struct = node.struct
    if struct.isGroup:
        raise LayoutError(f"{name}: groups are not supported by ui/capnp.js")
    fields = {field.name: _field(field, nodes, f"{name}.{field.name}") for field in struct.fields}
    union = [None] * struct.discriminantCount
    for field_name, field in fields.items():
        if "discriminant" in field:
            union[field["discriminant"]] = field_name
    return {
        "id": f"{node.id:#018x}",
        "file": file_name,
        "dataWords": struct.dataWordCount,
        "pointerWords": struct.pointerCount,
        "discriminantByteOffset": struct.discriminantOffset * 2 if struct.discriminantCount else None,
        "union": union,
        "fields": fields,
    }


def build_layout() -> dict:
    """Return {"structs": {name: ...}, "enums": {name: [enumerant, ...]}} for the browser.

    Raises:
        LayoutError: a schema uses a feature ui/capnp.js does not read.
    """
    nodes = _nodes()
    structs: dict[str, dict] = {}
    enums: dict[str, list[str]] = {}
    for name, file_name, module in nodes.values():
        which = module.schema.node.which()
        if which == "struct":
            structs[name] = _struct(name, file_name, module, nodes)
        elif which == "enum":
            enums[name] = [enumerant.name for enumerant in module.schema.node.enum.enumerants]
        else:
            raise LayoutError(f"{name}: node kind {which} is not supported by ui/capnp.js")
    return {"structs": structs, "enums": enums}


def _compact(value) -> str:
    return json.dumps(value, separators=(", ", ": "))


def _render_structs(structs: dict) -> str:
    """Render structs one header line and one line per field, for readable diffs."""
    lines = ["{"]
    for struct_index, (name, struct) in enumerate(structs.items()):
        header = {key: value for key, value in struct.items() if key != "fields"}
        lines.append(f"  {_compact(name)}: {{")
        for key, value in header.items():
            lines.append(f"    {_compact(key)}: {_compact(value)},")
        lines.append('    "fields": {')
        fields = list(struct["fields"].items())
        for field_index, (field_name, field) in enumerate(fields):
            comma = "," if field_index < len(fields) - 1 else ""
            lines.append(f"      {_compact(field_name)}: {_compact(field)}{comma}")
        lines.append("    }")
        lines.append("  }" + ("," if struct_index < len(structs) - 1 else ""))
    lines.append("}")
    return "\n".join(lines)


def _render_enums(enums: dict) -> str:
    items = [f"  {_compact(name)}: {_compact(names)}" for name, names in enums.items()]
    return "{\n" + ",\n".join(items) + "\n}"


def render_layout() -> str:
    """Return the text of ui/schema_layout.js (deterministic for given schemas)."""
    layout = build_layout()
    sources = ", ".join(f"schemas/{file_name}" for file_name, _ in _FILES)
    return (
        f"// Generated by `python -m schemas.jslayout` from {sources}. Do not edit:\n"
        "// CI runs `python -m schemas.jslayout --check`. Read by ui/capnp.js.\n"
        "// Offsets: byteOffset/bitOffset into a struct's data section, pointer = slot\n"
        "// in its pointer section; union lists member names by discriminant value.\n"
        f"export const SCHEMA_VERSION = {schemas.SCHEMA_VERSION};\n"
        f"export const STRUCTS = deepFreeze({_render_structs(layout['structs'])});\n"
        f"export const ENUMS = deepFreeze({_render_enums(layout['enums'])});\n"
        "function deepFreeze(value) {\n"
        "  if (value && typeof value === \"object\") {\n"
        "    for (const key of Object.keys(value)) deepFreeze(value[key]);\n"
        "    Object.freeze(value);\n"
        "  }\n"
        "  return value;\n"
        "}\n"
    )


def main(argv: list[str] | None = None) -> int:
    """Write or check ui/schema_layout.js; return the process exit status."""
    parser = argparse.ArgumentParser(prog="python -m schemas.jslayout", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from the schemas")
    parser.add_argument("--output", type=Path, default=LAYOUT_PATH, help="file to write or check")
    args = parser.parse_args(argv)
    text = render_layout()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
        if current != text:
            print(f"{args.output} is out of date; run: python -m schemas.jslayout", file=sys.stderr)
            return 1
        return 0
    args.output.write_text(text, encoding="utf-8")
    return 0


__all__ = ["LAYOUT_PATH", "LayoutError", "build_layout", "main", "render_layout"]

if __name__ == "__main__":
    sys.exit(main())
