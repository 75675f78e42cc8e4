"""Reading content files: YAML that remembers line numbers, and typed fields out of it.

Every mapping and list read here knows the line it starts on, and a mapping knows
each key's line, so a problem can point an editor at the exact line to fix.
"""

from __future__ import annotations

import difflib
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from content.report import WARNING, Problem


class LineDict(dict[Any, Any]):
    """A YAML mapping with the (1-based) line it starts on and the line of each key."""

    line: int = 1

    def __init__(self) -> None:
        super().__init__()
        self.key_lines: dict[str, int] = {}
        # A repeated key silently keeps the last value in plain YAML; remember it instead.
        self.duplicate_keys: list[tuple[str, int]] = []

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    """A YAML list with the line it starts on and the line of each item."""

    line: int = 1

    def __init__(self) -> None:
        super().__init__()
        self.item_lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if index < len(self.item_lines) else self.line


# libyaml's parser when the yaml package was built with it (5x faster on the bundled bank);
# the constructors below are the same either way, so every node still carries its line.
_Base: type = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _LineLoader(_Base):
    """SafeLoader whose mappings and lists are LineDict and LineList."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> Any:
    data = LineDict()
    data.line = node.start_mark.line + 1
    yield data
    loader.flatten_mapping(node)  # resolves `<<` merge keys like SafeLoader does
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise ConstructorError(
                "while reading a mapping",
                node.start_mark,
                "a key cannot be a list or mapping",
                key_node.start_mark,
            ) from None
        line = key_node.start_mark.line + 1
        if key in data:
            data.duplicate_keys.append((str(key), line))
        else:
            data.key_lines[str(key)] = line
        data[key] = loader.construct_object(value_node, deep=True)


def _construct_sequence(loader: _LineLoader, node: yaml.SequenceNode) -> Any:
    data = LineList()
    data.line = node.start_mark.line + 1
    yield data
    for child in node.value:
        data.item_lines.append(child.start_mark.line + 1)
        data.append(loader.construct_object(child, deep=True))


def _construct_timestamp(loader: _LineLoader, node: yaml.ScalarNode) -> Any:
    # SafeLoader raises a bare ValueError (no line) for 2027-02-30; give it a line.
    try:
        return SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError as exc:
        raise ConstructorError(
            None, None, f"{node.value!r} is not a real date ({exc})", node.start_mark
        ) from None


_LineLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)
_LineLoader.add_constructor("tag:yaml.org,2002:seq", _construct_sequence)
_LineLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def read_yaml(path: Path) -> tuple[Any, list[Problem]]:
    """The parsed file (None if unreadable) and any problem reading it; never raises."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Problem(path, 1, "file not found")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(path, 1, f"cannot read the file: {exc}")]
    try:
        return yaml.load(text, Loader=_LineLoader), []  # a SafeLoader: no arbitrary objects
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        what = " ".join(part for part in (exc.context, exc.problem) if part)
        return None, [Problem(path, line, f"YAML syntax error: {what}")]
    except yaml.YAMLError as exc:
        return None, [Problem(path, 1, f"YAML syntax error: {exc}")]


class Fields:
    """Typed fields pulled out of one YAML mapping, with a Problem for each bad one.

    A bad or missing field yields an empty value and clears `ok`; the caller drops
    the item, so later checks never see half-read data.
    """

    def __init__(self, item: LineDict, file: Path, label: str, problems: list[Problem]):
        self.item, self.file, self.label, self.problems = item, file, label, problems
        self.ok = True

    def fail(self, name: str, message: str, line: int | None = None) -> None:
        self.ok = False
        where = line if line is not None else self.item.line_of(name)
        self.problems.append(Problem(self.file, where, f"{self.label}: {message}"))

    def _get(self, name: str, required: bool = True) -> Any:
        value = self.item.get(name)
        if value is None and required:
            self.fail(name, f"'{name}' is missing")
        return value

    def text(self, name: str, required: bool = True) -> str:
        value = self._get(name, required)
        if value is None or isinstance(value, str):
            return value or ""
        # YAML turns unquoted 1.50 into 1.5 and `no` into False; quoting keeps the text.
        self.fail(name, f"'{name}' must be text; put it in quotes (YAML read {value!r})")
        return ""

    def number(self, name: str) -> int:
        value = self._get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if value is not None:
            self.fail(name, f"'{name}' must be a whole number, not {value!r}")
        return 0

    def words(self, name: str, required: bool = True) -> tuple[str, ...]:
        value = self._get(name, required)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value)
        if value is not None:
            self.fail(name, f"'{name}' must be a list of words like [a, b], not {value!r}")
        return ()

    def numbers(self, name: str) -> tuple[int, ...]:
        """An optional list of whole numbers, such as question ids."""
        value = self._get(name, required=False)
        if value is None:
            return ()
        if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return tuple(value)
        self.fail(name, f"'{name}' must be a list of question ids like [101, 202], not {value!r}")
        return ()

    def day(self, name: str) -> date:
        value = self._get(name)
        if isinstance(value, datetime):
            return value.date()
        if isinstance(value, date):
            return value
        if value is not None:
            try:
                return date.fromisoformat(str(value))
            except ValueError:
                self.fail(name, f"'{name}' must be a date like 2027-11-30, not {value!r}")
        return date.min

    def letter(self, name: str) -> str:
        if isinstance(self.item.get(name), list):
            self.fail(
                name,
                f"'{name}' must be one letter A-D, not a list "
                f"{self.item[name]!r}: a question has exactly one answer",
            )
            return ""
        return self.text(name)

    def options(self, name: str, lines: dict[str, int]) -> dict[str, str]:
        """Letter -> text; adds the line of each option to `lines` as "options.A"."""
        value = self._get(name)
        if value is None:
            return {}
        if not isinstance(value, LineDict):
            self.fail(name, f"'{name}' must map letters to text (A: ..., B: ...), not {value!r}")
            return {}
        result = {}
        for key, text in value.items():
            letter = str(key)
            lines[f"{name}.{letter}"] = value.line_of(letter)
            if isinstance(text, str):
                result[letter] = text
            else:
                self.fail(
                    name,
                    f"option {letter} must be text; put it in quotes (YAML read {text!r})",
                    value.line_of(letter),
                )
        for letter, line in value.duplicate_keys:
            self.fail(name, f"option {letter} is given twice", line)
        return result

    def unknown(self, known: tuple[str, ...]) -> None:
        """A problem for each field not in `known` (likely a typo) and each repeated one."""
        for key in self.item:
            if str(key) not in known:
                hint = difflib.get_close_matches(str(key), known, n=1)
                also = f" (did you mean '{hint[0]}'?)" if hint else ""
                self.fail(str(key), f"unknown field '{key}'{also}")
        for key, line in self.item.duplicate_keys:
            self.fail(key, f"'{key}' is given twice; keep one", line)

    def lines(self) -> dict[str, int]:
        return dict(self.item.key_lines)


def items_of(data: Any, path: Path, what: str, problems: list[Problem]) -> list[LineDict]:
    """The mappings of a file that should be a list of them, with a Problem for the rest."""
    if data is None:
        problems.append(Problem(path, 1, f"no {what}s in this file", WARNING))
        return []
    if not isinstance(data, LineList):
        line = getattr(data, "line", 1)
        problems.append(Problem(path, line, f"expected a list of {what}s (- id: ...)"))
        return []
    items = []
    for index, item in enumerate(data):
        if isinstance(item, LineDict):
            items.append(item)
        else:
            problems.append(
                Problem(
                    path,
                    data.line_of(index),
                    f"each {what} must be a mapping of fields, not {item!r}",
                )
            )
    return items
