"""Writes (or prints) the public API snapshot that tests/test_api.py compares against.

The snapshot lists every name in `dps_core.__all__` with its signature, the fields of every public
record and config class, the public methods and properties of public classes, and every hookspec
with its arguments. Changing the public API means regenerating it and saying why in CHANGELOG.md:

    python tests/api_snapshot.py --write
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import attrs

SNAPSHOT = Path(__file__).with_name("data") / "api_snapshot.txt"
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _sig(obj) -> str:
    try:
        return _ADDRESS.sub("", str(inspect.signature(obj)))
    except (TypeError, ValueError):
        return "(...)"


def _class_lines(name: str, cls: type) -> list[str]:
    lines = [f"class {name}{_sig(cls)}"]
    if attrs.has(cls):
        for f in attrs.fields(cls):
            default = "" if f.default is attrs.NOTHING else f" = {_ADDRESS.sub('', repr(f.default))}"
            lines.append(f"    field {f.name}: {f.type}{default}")
    for attr, value in sorted(vars(cls).items()):
        if attr.startswith("_"):
            continue
        if isinstance(value, property):
            lines.append(f"    property {attr}")
        elif isinstance(value, (classmethod, staticmethod)):
            lines.append(f"    {type(value).__name__} {attr}{_sig(value.__func__)}")
        elif inspect.isfunction(value):
            lines.append(f"    method {attr}{_sig(value)}")
    return lines


def snapshot() -> str:
    """The public API as text, one line per name, field, method and hook."""
    import dps_core
    from dps_core import hookspecs

    lines = [f"__all__ = {sorted(dps_core.__all__)}"]
    for name in sorted(dps_core.__all__):
        obj = getattr(dps_core, name)
        if inspect.isclass(obj):
            lines += _class_lines(name, obj)
        elif inspect.ismodule(obj):
            lines.append(f"module {name}: {sorted(getattr(obj, '__all__', []))}")
            for sub in sorted(getattr(obj, "__all__", [])):
                member = getattr(obj, sub)
                if inspect.isfunction(member):
                    lines.append(f"    def {sub}{_sig(member)}")
        elif callable(obj):
            lines.append(f"def {name}{_sig(obj)}")
        else:
            lines.append(f"value {name}: {type(obj).__name__}")
    for hook in sorted(n for n in dir(hookspecs) if n.startswith("dps_")):
        lines.append(f"hook {hook}{_sig(getattr(hookspecs, hook))}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    text = snapshot()
    if "--write" in sys.argv:
        SNAPSHOT.write_text(text)
        print(f"wrote {SNAPSHOT}")
    else:
        sys.stdout.write(text)
