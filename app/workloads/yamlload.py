"""YAML loading that cannot be turned against us.

PyYAML's safe loader still expands aliases lazily into shared objects, so a "billion laughs"
document is small on the wire yet explodes as soon as anything walks it. We compose nodes
ourselves and refuse documents with too many aliases, too many nodes or too deep a nesting,
before any Python object is built. Limits are generous for real manifests (which use no aliases
at all) and small enough to reject an attack within milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from app.core.errors import InputError, TooLargeError

_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class YamlLimits:
    max_aliases: int = 100
    max_depth: int = 64
    max_nodes: int = 1_000_000


class _GuardedLoader(yaml.SafeLoader):
    """SafeLoader that tracks depth and the *expanded* size of every node while composing.

    An alias counts as a full copy of the node it points to, which is what a consumer walking
    the data will see; that is how a few hundred bytes of anchors are caught before they
    become billions of list items.
    """

    limits = YamlLimits()

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > self.limits.max_aliases:
                raise TooLargeError(f"more than {self.limits.max_aliases} YAML aliases (alias bomb?)")
        self._depth += 1
        if self._depth > self.limits.max_depth:
            raise TooLargeError(f"YAML nested deeper than {self.limits.max_depth} levels")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        key = id(node)
        if key not in self._sizes:
            if isinstance(node, yaml.SequenceNode):
                size = 1 + sum(self._sizes.get(id(c), 1) for c in node.value)
            elif isinstance(node, yaml.MappingNode):
                size = 1 + sum(self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1) for k, v in node.value)
            else:
                size = 1
            if size > self.limits.max_nodes:
                raise TooLargeError(f"YAML expands to more than {self.limits.max_nodes} nodes (alias bomb?)")
            self._sizes[key] = size
        return node


_DEEP_LINE = re.compile(r"^[ \t]{120,}|^(?:[ \t]*-[ \t]+){16,}", re.MULTILINE)


def _needs_guard(text: str) -> bool:
    """Only documents that could hold aliases or deep nesting pay for the guarded pure-Python composer.

    Aliases need `*`; deep nesting needs many brackets, deep indentation or stacked `- - -`
    sequences. Plain manifests take libyaml's fast path.
    """
    if "*" in text or "&" in text or text.count("[") + text.count("{") > 64:
        return True
    return _DEEP_LINE.search(text) is not None


def load_documents(text: str, source: str = "<input>", limits: YamlLimits | None = None) -> Iterator[Any]:
    """Yield each YAML document; errors name the source and the 1-based document number."""
    limits = limits or YamlLimits()
    if _needs_guard(text) or limits != YamlLimits() or _Base is yaml.SafeLoader:
        loader_cls: type = type("Guarded", (_GuardedLoader,), {"limits": limits})
    else:
        loader_cls = _Base
    try:
        loader = loader_cls(text)
    except yaml.YAMLError as exc:  # a reader error (a control character) is raised as the loader starts
        raise InputError(_yaml_message(exc), source=source, document=1) from None
    index = 0
    try:
        while loader.check_data():
            index += 1
            try:
                yield loader.get_data()
            except TooLargeError as exc:
                raise TooLargeError(exc.message, source=source, document=index) from None
            except yaml.YAMLError as exc:
                raise InputError(_yaml_message(exc), source=source, document=index) from None
            except RecursionError:
                raise TooLargeError("YAML nested too deeply", source=source, document=index) from None
    except yaml.YAMLError as exc:
        raise InputError(_yaml_message(exc), source=source, document=index + 1) from None
    finally:
        loader.dispose()


def _yaml_message(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"invalid YAML: {problem}{where}"
