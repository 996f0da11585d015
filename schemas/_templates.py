"""Encode hot-path messages from cached skeletons: copy, fill columns, patch scalars.

Building a message through pycapnp's API costs tens of microseconds in
Python calls (``new_message``, ``init`` per list, ``to_bytes``), most of it
the same for every frame of a group. :class:`SkeletonCache` builds a
message once per shape (a key naming its constant fields, and the row
count) with pycapnp, remembers where its column lists and varying
fixed-width scalars sit, and then encodes each message as: copy the
skeleton, write the numpy columns and ``struct.pack_into`` the scalars.
Only list element bytes and fixed-width data fields are overwritten, so
the result is the message pycapnp would have written (tests/schemas/
test_templates.py compares them). Measured by perf/bench_codec.py.
"""

from __future__ import annotations

import functools
import struct
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from schemas._columns import L1_DTYPES, _column_spans, _locate_struct, _segments

_FORMATS = {"int64": "<q", "uint64": "<Q", "int32": "<i", "uint32": "<I", "uint16": "<H", "int16": "<h",
            "float64": "<d"}
_SIZES = {"<q": 8, "<Q": 8, "<i": 4, "<I": 4, "<H": 2, "<h": 2, "<d": 8}


@dataclass(frozen=True)
class ScalarSlot:
    """Where a varying scalar lives: pointer path from the root to its struct, and the field.

    Attributes:
        path: pointer-slot indexes from the root struct (``()`` for the root).
        struct_type: pycapnp struct module holding the field.
        field: field name (a fixed-width number, no explicit default).
    """

    path: tuple[int, ...]
    struct_type: object
    field: str

    @functools.cached_property
    def _in_struct(self) -> tuple[int, str]:
        """(byte offset inside its struct's data section, struct format), read from the schema once.

        A skeleton miss located every scalar through pycapnp's schema objects again: at 40,000 ticks/s,
        where most TickBatch and GroupFrame shapes miss the cache, that was 4 % of the desk's samples
        (perf/bench_pipeline.py, py-spy).
        """
        proto = self.struct_type.schema.fields[self.field].proto
        fmt = _FORMATS[proto.slot.type.which()]
        if proto.slot.defaultValue.which() != "void" and getattr(proto.slot.defaultValue,
                                                                 proto.slot.type.which()) != 0:
            raise ValueError(f"{self.field} has a non-zero default; it cannot be patched in place")
        return proto.slot.offset * _SIZES[fmt], fmt

    def locate(self, buf: bytes, segs=None) -> tuple[int, str]:
        """Return (absolute byte offset, struct format) of the field in ``buf`` (``segs``: ``buf``'s
        segment table when the caller has it).

        Raises:
            ValueError: the field has a non-zero default (patching it in place would be wrong).
        """
        offset, fmt = self._in_struct
        segs = _segments(buf) if segs is None else segs
        seg, word, _, _ = _locate_struct(buf, segs, self.path)
        return (segs.starts[seg] + word) * 8 + offset, fmt


@dataclass(frozen=True)
class _Skeleton:
    data: bytes
    spans: Mapping[str, tuple[int, int]]
    scalars: Mapping[str, tuple[int, str]]


class SkeletonCache:
    """Encodes messages of one kind from skeletons cached per (key, row count).

    Args:
        build: ``build(key, n_rows)`` returns a pycapnp root builder with the
            constant fields set and every column list ``init``-ed to ``n_rows``.
        columns_path: pointer-slot path from the root to the L1Columns struct.
        scalars: name → where each varying scalar lives.
        max_entries: skeletons kept (least recently used dropped).
    """

    def __init__(self, build: Callable[[Hashable, int], object], columns_path: Sequence[int],
                 scalars: Mapping[str, ScalarSlot], max_entries: int = 1024) -> None:
        self._build = build
        self._columns_path = tuple(columns_path)
        self._scalars = dict(scalars)
        self._entries: OrderedDict[tuple, _Skeleton] = OrderedDict()
        self._max_entries = max_entries
        self.hits = self.misses = 0

    def _skeleton(self, key: Hashable, n_rows: int) -> _Skeleton:
        entry = self._entries.get((key, n_rows))
        if entry is not None:
            self.hits += 1
            self._entries.move_to_end((key, n_rows))
            return entry
        self.misses += 1
        data = self._build(key, n_rows).to_bytes()
        segs = _segments(data)
        seg, word, data_words, ptr_words = _locate_struct(data, segs, self._columns_path)
        spans = _column_spans(data, segs, seg, word + data_words, ptr_words, L1_DTYPES)
        scalars = {name: slot.locate(data, segs) for name, slot in self._scalars.items()}
        entry = _Skeleton(data, spans, scalars)
        self._entries[(key, n_rows)] = entry
        if len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
        return entry

    def encode(self, key: Hashable, columns: Mapping[str, np.ndarray], **scalars: int | float) -> bytes:
        """Return the message of shape ``key`` with these columns and scalar values.

        Args:
            key: the constant part (what ``build`` needs besides the row count).
            columns: every L1 column, ``n`` rows each (cast to the column dtype).
            scalars: a value for each varying scalar named at construction.

        Raises:
            ValueError: columns of different lengths.
            KeyError: a scalar not named at construction.
        """
        n_rows = len(columns["indexes"])
        skeleton = self._skeleton(key, n_rows)
        out = bytearray(skeleton.data)
        view = memoryview(out)
        for name, (offset, count) in skeleton.spans.items():
            values = columns[name]
            if len(values) != count:
                raise ValueError(f"column {name} has {len(values)} rows, expected {count}")
            if count:
                view[offset:offset + count * L1_DTYPES[name].itemsize] = \
                    np.ascontiguousarray(values, dtype=L1_DTYPES[name]).data.cast("B")
        for name, value in scalars.items():
            offset, fmt = skeleton.scalars[name]
            struct.pack_into(fmt, out, offset, value)
        view.release()
        return bytes(out)


__all__ = ["ScalarSlot", "SkeletonCache"]
