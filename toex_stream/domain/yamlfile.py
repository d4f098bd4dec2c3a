"""YAML files written by people (threat profiles, routes): strict loading and errors that point at a line.

A repeated key is refused (plain YAML keeps the last one silently), and a
validation error is reported with its line and YAML path, so a person can find
and fix it.
"""

from __future__ import annotations

import io
from typing import Any

import yaml
from pydantic_core import ErrorDetails

from toex_stream.domain.errors import ToexError


class UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a repeated key, which plain YAML silently resolves to the last one."""


def _construct_mapping(loader: UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key '{key}' appears twice in one mapping", key_node.start_mark
            )
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def yaml_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if part == "[key]":
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the node at ``loc`` (or of the nearest enclosing node found)."""
    node, line = root, None
    for part in loc:
        if node is None or part == "[key]":  # a bad key: the line of the key found so far
            break
        line = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            found = next(((k, v) for k, v in node.value if k.value == part), None)
            if found is None:
                break
            # The key's line is where a person looks; the value may be on the same or the next line.
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def yaml_message(error: ErrorDetails) -> str:
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if error["type"] == "extra_forbidden":
        message = f"unknown key '{error['loc'][-1]}' (a typo?)"
    elif error["type"] == "missing":
        message = f"missing key '{error['loc'][-1]}'"
    return message


def _named(text: str, name: str) -> io.StringIO:
    # PyYAML names the stream in its error marks: the file name reads better than '<unicode string>'.
    stream = io.StringIO(text)
    stream.name = name
    return stream


def read_mapping(text: str, name: str, error: type[ToexError], what: str) -> tuple[dict[str, Any], yaml.Node | None]:
    """The document (a mapping) and its node tree, for line numbers; ``error`` names the file on failure.

    ``what`` says what the file should hold, e.g. "a profile is a YAML mapping of id, name, ...".
    """
    try:
        document = yaml.load(_named(text, name), Loader=UniqueKeyLoader)  # safe: a SafeLoader subclass
        root = yaml.compose(_named(text, name), Loader=yaml.SafeLoader)
    except yaml.YAMLError as problem:
        raise error(f"{name}: not valid YAML: {problem}") from None
    if not isinstance(document, dict):
        found = "an empty file" if document is None else f"a {type(document).__name__}"
        raise error(f"{name}: {what}; found {found}")
    return document, root
