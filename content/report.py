"""`Problem`, one fault in the content at file:line, and `Report`, which collects them.

`Report.english` holds the rule every piece of English text obeys: plain GSM-7,
because one stray curly quote turns a whole SMS into costlier UCS-2.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from content.segments import GSM7_EXTENSION, is_gsm7, normalise

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with the content, printable as `path:line: severity: message`."""

    file: Path
    line: int
    message: str
    severity: str = ERROR

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR


def describe_char(char: str) -> str:
    """`'’' U+2019 RIGHT SINGLE QUOTATION MARK (write "'")`: what it is and what to write."""
    name = unicodedata.name(char, "unnamed character")
    better = normalise(char)
    fix = f" (write {better!r})" if better != char and is_gsm7(better) else ""
    return f"{char!r} U+{ord(char):04X} {name}{fix}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)

    def error(self, file: Path, line: int, message: str) -> None:
        self.problems.append(Problem(file, line, message, ERROR))

    def warn(self, file: Path, line: int, message: str) -> None:
        self.problems.append(Problem(file, line, message, WARNING))

    def english(self, file: Path, line: int, what: str, text: str) -> None:
        """An error for characters outside GSM-7, a warning for two-septet ones."""
        bad = sorted({c for c in text if not is_gsm7(c)}, key=text.index)
        if bad:
            chars = ", ".join(describe_char(c) for c in bad)
            self.error(
                file,
                line,
                f"{what} has characters outside GSM-7, which would make the SMS cost 2-3x as much: {chars}",
            )
            return
        costly = sorted({c for c in text if c in GSM7_EXTENSION}, key=text.index)
        if costly:
            self.warn(
                file,
                line,
                f"{what} uses {' '.join(costly)}, which cost two characters "
                "each; write it another way if you can",
            )
