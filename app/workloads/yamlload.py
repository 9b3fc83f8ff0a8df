"""YAML loading that cannot be turned against us: every limit is checked on the parser's events.

Rule: no YAML body, however hostile, crashes, hangs or exhausts the process; it loads, or it is refused
with an `InputError` (HTTP 422) or a `TooLargeError` (HTTP 413) naming the document, the problem and
its line and column.

Why it is built this way (source: PyYAML 6 and libyaml 0.2.5, read and measured): libyaml's parser is
an iterative state machine, but the composer PyYAML puts on top of it (`CSafeLoader`) recurses in C,
once per nesting level, and no Python recursion limit stops it: `'- ? ' * 20000` overflows a worker
thread's stack and kills the process. Text heuristics cannot tell such documents apart. So we never
use a recursive composer on unchecked input:

* `_Events` pulls libyaml's event stream one event at a time (no recursion anywhere) and checks, as
  each event passes and before anything is built: nesting depth (open sequences and mappings, in any
  style, with or without `? ` complex keys), the number of aliases, and the *expanded* size of the
  stream (an alias counts as a full copy of the node it names, which is what a consumer walking the
  data sees, so a few hundred bytes of "billion laughs" anchors are refused before they expand).
  Aliases to an undefined anchor or to a node that contains them (a cycle) are refused too, so the
  result is always a finite tree-like structure (shared, never recursive) any walker terminates on.
* `_build` turns the checked events into Python objects with an explicit stack, exactly as
  `yaml.safe_load` would (same resolver, same constructors for every scalar): it is also faster than
  `CSafeLoader`, which builds a node tree first and then walks it again.
* Documents using the rare features `_build` leaves to PyYAML (explicit tags on collections such as
  `!!set` or `!!omap`, merge keys `<<`, unknown tags) are re-read by PyYAML's own composer and
  constructor, fed from the same checked events: its recursion is bounded by `max_depth`, which is
  itself capped well under Python's recursion limit (`MAX_DEPTH_CEILING`).

Scalars cannot cost more than linear time either: integers are refused past `MAX_NUMBER_CHARS`
characters (sexagesimal `1:00:00...` integers otherwise cost quadratic time), and any error a
constructor raises (`!!timestamp abc`, `2001-02-30`, `!!int x`) becomes an `InputError` at that scalar.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode
from yaml.resolver import Resolver

from app.core.errors import InputError, TooLargeError

try:
    from yaml._yaml import CParser as _Parser

    _BYTE_OFFSETS = True  # libyaml reports a reader error's position in bytes of the UTF-8 text
except ImportError:  # PyYAML without libyaml: its pure-Python parser is an iterative state machine too
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)

    _BYTE_OFFSETS = False

MAX_DEPTH_CEILING = 200
"""Highest `max_depth` accepted: PyYAML's composer and constructor (used for rare features only) spend
about three Python frames per level, and Python's default recursion limit is 1000."""

MAX_NUMBER_CHARS = 4300
"""Longest integer scalar read (Python's own limit for decimal strings, `sys.int_info.default_max_str_digits`)."""

_TAG = "tag:yaml.org,2002:"
_STR, _SEQ, _MAP = _TAG + "str", _TAG + "seq", _TAG + "map"
_DIRECT_TAGS = frozenset(_TAG + t for t in ("str", "null", "bool", "int", "float", "timestamp", "binary"))
"""Scalar tags `_build` constructs itself; every other tag goes to PyYAML's composer and constructor."""


@dataclass(frozen=True)
class YamlLimits:
    """Per request stream: nesting depth of collections, aliases, and nodes after expanding aliases."""

    max_aliases: int = 100
    max_depth: int = 64
    max_nodes: int = 1_000_000

    def __post_init__(self) -> None:
        if not 1 <= self.max_depth <= MAX_DEPTH_CEILING:
            raise ValueError(f"YAML max_depth must be between 1 and {MAX_DEPTH_CEILING}, got {self.max_depth}")


def _at(mark: Any) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


class _Unusual(Exception):
    """A feature `_build` leaves to PyYAML's composer and constructor (see the module docstring)."""


class _Constructor(SafeConstructor):
    """`SafeConstructor` whose integers stay linear in time and whose failures all name the scalar."""

    def construct_yaml_int(self, node: ScalarNode) -> int:
        if len(node.value) > MAX_NUMBER_CHARS:
            raise ConstructorError(None, None, f"number longer than {MAX_NUMBER_CHARS} characters", node.start_mark)
        return super().construct_yaml_int(node)  # type: ignore[no-any-return]

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (yaml.YAMLError, RecursionError):
            raise
        except Exception as exc:  # PyYAML lets ValueError, KeyError, AttributeError... escape
            raise _bad_scalar(node, exc) from None


    def construct_mapping(self, node: Node, deep: bool = False) -> dict[Any, Any]:
        """`SafeConstructor.construct_mapping`, refusing a key written twice (merged `<<` keys may be overridden)."""
        if isinstance(node, MappingNode):
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == _TAG + "merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    duplicate = key in seen
                except TypeError:  # unhashable: the constructor below says so
                    continue
                if duplicate:
                    raise _duplicate_key(key, key_node.start_mark)
                seen.add(key)
        return super().construct_mapping(node, deep)  # type: ignore[no-any-return]


_Constructor.add_constructor(_TAG + "int", _Constructor.construct_yaml_int)


def _duplicate_key(key: Any, mark: Any) -> ConstructorError:
    """Kubernetes refuses a manifest with a key written twice (kubectl: "key already set in map"); so do we,
    rather than keep the last one silently."""
    shown = repr(key)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return ConstructorError(None, None, f"duplicate key {shown}", mark)


def _bad_scalar(node: Node, exc: Exception) -> ConstructorError:
    shown = node.value if isinstance(node.value, str) else ""
    shown = shown if len(shown) <= 40 else shown[:37] + "..."
    return ConstructorError(None, None, f"cannot read {shown!r} as {node.tag.removeprefix(_TAG)} "
                                        f"({type(exc).__name__}: {exc})", node.start_mark)


class _Events:
    """libyaml's events for `text`, each checked against `limits` before it is handed on.

    `document` is the 1-based number of the document being read (for error messages): it moves on
    as soon as a document ends, so an error between two documents names the second.
    """

    def __init__(self, text: str, limits: YamlLimits) -> None:
        self.text = text
        self.limits = limits
        self.document = 1

    def __iter__(self) -> Iterator[Event]:
        max_depth, max_aliases, max_nodes = self.limits.max_depth, self.limits.max_aliases, self.limits.max_nodes
        parser = _Parser(self.text)
        opened: list[tuple[str | None, int]] = []  # per open collection: its anchor and `nodes` at its start
        sizes: dict[str, int] = {}  # anchor -> expanded size of its node, once complete
        defined: set[str] = set()  # anchors of this document, complete or not
        nodes = aliases = 0
        try:
            while (event := parser.get_event()) is not None:
                cls = event.__class__
                if cls is ScalarEvent:
                    nodes += 1
                    if event.anchor is not None:
                        self._define(event, defined)
                        sizes[event.anchor] = 1
                elif cls is MappingStartEvent or cls is SequenceStartEvent:
                    if len(opened) >= max_depth:
                        raise TooLargeError(f"YAML nested deeper than {max_depth} levels{_at(event.start_mark)}")
                    if event.anchor is not None:
                        self._define(event, defined)
                    opened.append((event.anchor, nodes))
                    nodes += 1
                elif cls is MappingEndEvent or cls is SequenceEndEvent:
                    anchor, start = opened.pop()
                    if anchor is not None:
                        sizes[anchor] = nodes - start
                elif cls is AliasEvent:
                    aliases += 1
                    if aliases > max_aliases:
                        raise TooLargeError(
                            f"more than {max_aliases} YAML aliases (alias bomb?){_at(event.start_mark)}"
                        )
                    size = sizes.get(event.anchor)
                    if size is None:
                        problem = "refers to a node that contains it" if event.anchor in defined else "is not defined"
                        raise InputError(f"invalid YAML: alias *{event.anchor} {problem}{_at(event.start_mark)}")
                    nodes += size
                elif cls is DocumentEndEvent:
                    yield event
                    sizes.clear()
                    defined.clear()
                    self.document += 1
                    continue
                if nodes > max_nodes:
                    raise TooLargeError(
                        f"YAML expands to more than {max_nodes} nodes (alias bomb?){_at(event.start_mark)}"
                    )
                yield event
                if cls is StreamEndEvent:
                    return
        finally:
            parser.dispose()

    @staticmethod
    def _define(event: Any, defined: set[str]) -> None:
        if event.anchor in defined:
            raise InputError(f"invalid YAML: anchor &{event.anchor} defined twice{_at(event.start_mark)}")
        defined.add(event.anchor)


_NO_KEY = object()
_RESOLVE = Resolver().resolve  # reads only the class's implicit resolvers (no path resolvers are added)
_MEMO_CHARS = 64
"""Plain scalars up to this length have their tag memoised across requests (`_implicit_tag`)."""


def _implicit_tag(text: str) -> str:
    """The tag a plain scalar resolves to, which depends on its text only: manifests repeat the same short
    texts (`apps/v1`, `Deployment`, `256Mi`), so those up to `_MEMO_CHARS` are memoised across requests;
    the memo holds at most 4096 × `_MEMO_CHARS` characters whatever the input."""
    return _memo_tag(text) if len(text) <= _MEMO_CHARS else _RESOLVE(ScalarNode, text, (True, False))


@functools.lru_cache(maxsize=4096)
def _memo_tag(text: str) -> str:
    return _RESOLVE(ScalarNode, text, (True, False))  # type: ignore[no-any-return]


def _build(events: Iterator[Event]) -> Iterator[Any]:
    """Yield each document built from checked events with an explicit stack, as `yaml.safe_load` builds it.

    Plain scalars are resolved once per distinct text (`cache`): the result depends on the text only.
    Raises `_Unusual` for what it leaves to PyYAML (see `_DIRECT_TAGS` and the module docstring).
    """
    constructor = _Constructor()
    constructors = _Constructor.yaml_constructors

    def scalar(event: Any, tag: str) -> Any:
        if tag not in _DIRECT_TAGS:
            raise _Unusual
        if tag == _STR:
            return event.value
        node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        try:
            return constructors[tag](constructor, node)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # the same mapping as `_Constructor.construct_object`
            raise _bad_scalar(node, exc) from None

    cache: dict[str, Any] = {}
    anchors: dict[str, Any] = {}
    stack: list[Any] = []  # open collections: a list, or a dict whose pending key is on `keys`
    keys: list[Any] = []
    root: Any = None
    for event in events:
        cls = event.__class__
        opens = False
        if cls is ScalarEvent:
            tag = event.tag
            if tag is None or tag == "!":
                if event.implicit[0]:
                    text = event.value
                    value = cache.get(text, _NO_KEY)
                    if value is _NO_KEY:
                        value = cache[text] = scalar(event, _implicit_tag(text))
                else:
                    value = event.value
            else:
                value = scalar(event, tag)
            if event.anchor is not None:
                anchors[event.anchor] = value
        elif cls is MappingStartEvent or cls is SequenceStartEvent:
            is_map = cls is MappingStartEvent
            if event.tag not in (None, "!", _MAP if is_map else _SEQ):
                raise _Unusual
            value = {} if is_map else []
            if event.anchor is not None:
                anchors[event.anchor] = value
            opens = True
        elif cls is MappingEndEvent or cls is SequenceEndEvent:
            if stack.pop().__class__ is dict:
                keys.pop()
            continue
        elif cls is AliasEvent:
            value = anchors[event.anchor]  # `_Events` has checked it is defined and complete
        elif cls is DocumentStartEvent:
            anchors = {}
            root = None
            continue
        elif cls is DocumentEndEvent:
            yield root
            continue
        else:  # stream start and end
            continue
        if not stack:
            root = value
        else:
            top = stack[-1]
            if top.__class__ is list:
                top.append(value)
            elif keys[-1] is _NO_KEY:
                if value.__class__ is dict or value.__class__ is list:
                    raise ConstructorError("while constructing a mapping", None,
                                           "found unhashable key (a sequence or mapping)", event.start_mark)
                if value in top:
                    raise _duplicate_key(value, event.start_mark)
                keys[-1] = value
            else:
                top[keys[-1]] = value
                keys[-1] = _NO_KEY
        if opens:
            stack.append(value)
            if value.__class__ is dict:
                keys.append(_NO_KEY)


class _NodeLoader(Composer, _Constructor, Resolver):
    """PyYAML's own composer and constructor, reading checked events instead of a parser."""

    def __init__(self, events: Iterator[Event]) -> None:
        self._events = events
        self._next: Event | None = None
        Composer.__init__(self)
        _Constructor.__init__(self)
        Resolver.__init__(self)

    def peek_event(self) -> Event:
        if self._next is None:
            self._next = next(self._events)
        return self._next

    def check_event(self, *choices: type) -> bool:
        return not choices or isinstance(self.peek_event(), choices)

    def get_event(self) -> Event:
        event = self.peek_event()
        self._next = None
        return event


def load_documents(text: str, source: str = "<input>", limits: YamlLimits | None = None) -> Iterator[Any]:
    """Yield each YAML document as `yaml.safe_load_all` would, or raise an error naming the document and place."""
    limits = limits or YamlLimits()
    events = _Events(text, limits)
    done = 0
    try:
        try:
            for document in _build(iter(events)):
                done += 1
                yield document
        except _Unusual:
            events = _Events(text, limits)
            loader = _NodeLoader(iter(events))
            index = 0
            while loader.check_node():
                node = loader.get_node()
                index += 1
                if index > done:
                    yield loader.construct_document(node)
    except TooLargeError as exc:
        raise TooLargeError(exc.message, source=source, document=events.document) from None
    except InputError as exc:
        raise InputError(exc.message, source=source, document=events.document) from None
    except yaml.YAMLError as exc:
        raise InputError(_yaml_message(exc, text), source=source, document=events.document) from None
    except RecursionError:
        raise TooLargeError("YAML nested too deeply", source=source, document=events.document) from None
    except UnicodeError as exc:  # a lone surrogate in a str that did not come from UTF-8 bytes
        raise InputError(f"not valid Unicode text ({exc})", source=source, document=events.document) from None


def _yaml_message(exc: yaml.YAMLError, text: str) -> str:
    """`invalid YAML: <problem> at line L, column C` for any error PyYAML or libyaml raises."""
    if isinstance(exc, yaml.reader.ReaderError):
        position = exc.position
        if _BYTE_OFFSETS:
            position = len(text.encode("utf-8", "surrogatepass")[:position].decode("utf-8", "ignore"))
        line = text.count("\n", 0, position)
        column = position - (text.rfind("\n", 0, position) + 1)
        char = f" (character #x{exc.character:04x})" if isinstance(exc.character, int) else ""
        return f"invalid YAML: {exc.reason}{char} at line {line + 1}, column {column + 1}"
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"invalid YAML: {problem}{_at(mark)}"
