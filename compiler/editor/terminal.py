"""What a terminal shows: colour (`--color auto|always|never`, `NO_COLOR` respected) and
`--quiet` (stderr carries errors only).

Every command writes its diagnostics through the one renderer, as plain text, to
stderr.  Rather than teach each command about colour, the command line puts a filter in
front of stderr for the length of the command: it paints what it recognises (a
diagnostic's header, its caret, `help:`, `regate: error:`) and, when quiet, drops what is
not an error.  Standard output (decisions, reports) is painted only by the commands that
write text for people (`explain`, `fmt --diff`), and only when it is a terminal.
"""

from __future__ import annotations

import io
import os
import re
import sys
from dataclasses import dataclass
from typing import TextIO, cast

RESET = "\x1b[0m"
BOLD = "\x1b[1m"
STYLES = {
    "error": "\x1b[1;31m",
    "warning": "\x1b[1;33m",
    "help": "\x1b[36m",
    "approve": "\x1b[1;32m",
    "manual": "\x1b[1;33m",
    "deny": "\x1b[1;31m",
    "added": "\x1b[32m",
    "removed": "\x1b[31m",
    "hunk": "\x1b[36m",
}
DIAGNOSTIC = re.compile(
    r"^(?P<where>\S.*?:\d+:\d+: )(?P<severity>error|warning)(?P<code>\[RG\d+\])(?P<rest>:.*)$"
)
CARET = re.compile(r"^(?P<gutter>\s+\|\s*)(?P<carets>\^+)$")
SUMMARY = re.compile(r"^\d+ errors?, \d+ warnings?$")
FAILURE = "regate: error:"


def wants_colour(choice: str, stream: TextIO) -> bool:
    """`always`, `never`, or (`auto`) when the stream is a terminal and NO_COLOR is unset
    or empty (https://no-color.org)."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(style: str, text: str) -> str:
    return f"{STYLES[style]}{text}{RESET}"


def paint_diagnostic_line(line: str, severity: str | None) -> str:
    header = DIAGNOSTIC.match(line)
    if header:
        return (
            f"{BOLD}{header['where']}{RESET}{paint(header['severity'], header['severity'])}"
            f"{BOLD}{header['code']}{header['rest']}{RESET}"
        )
    caret = CARET.match(line)
    if caret and severity:
        return caret["gutter"] + paint(severity, caret["carets"])
    if line.startswith("help:"):
        return paint("help", "help:") + line[len("help:") :]
    if line.startswith(FAILURE):
        return paint("error", FAILURE) + line[len(FAILURE) :]
    return line


def paint_explanation(text: str) -> str:
    """`regate explain`'s text: the headline in the result's colour, failures in red."""
    lines = text.split("\n")
    first = lines[0]
    for result, style in (("approved", "approve"), ("manual", "manual"), ("denied", "deny")):
        if first.startswith(result):
            lines[0] = paint(style, first)
    for index, line in enumerate(lines[1:], start=1):
        if line.endswith(" passed"):
            lines[index] = line[: -len("passed")] + paint("approve", "passed")
        elif " failed" in line and line.lstrip().startswith("policy "):
            head, _, tail = line.rpartition(" failed")
            lines[index] = head + " " + paint("deny", "failed") + tail
    return "\n".join(lines)


def paint_diff(text: str) -> str:
    """A unified diff: added lines green, removed red, hunk headers cyan."""
    painted = []
    for line in text.split("\n"):
        if line.startswith(("+++", "---")):
            painted.append(BOLD + line + RESET)
        elif line.startswith("+"):
            painted.append(paint("added", line))
        elif line.startswith("-"):
            painted.append(paint("removed", line))
        elif line.startswith("@@"):
            painted.append(paint("hunk", line))
        else:
            painted.append(line)
    return "\n".join(painted)


class StderrFilter(io.TextIOBase):
    """Stands for stderr while a command runs: paints diagnostics, and when quiet keeps
    only error diagnostics (each with its snippet and help) and `regate: error:` lines."""

    encoding = "utf-8"
    errors = "strict"

    def __init__(self, stream: TextIO, colour: bool, quiet: bool) -> None:
        super().__init__()
        self.stream = stream
        self.colour = colour
        self.quiet = quiet
        self.pending = ""
        self.severity: str | None = None  # of the diagnostic whose lines are passing

    def isatty(self) -> bool:
        return self.stream.isatty()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # click asks whether this is a binary stream
            raise TypeError("a text stream")
        self.pending += text
        while "\n" in self.pending:
            line, self.pending = self.pending.split("\n", 1)
            self._line(line, "\n")
        return len(text)

    def _line(self, line: str, end: str) -> None:
        header = DIAGNOSTIC.match(line)
        if header:
            self.severity = header["severity"]
        elif line.startswith(FAILURE):
            self.severity = "error"
        elif not line or SUMMARY.match(line):
            keep = not self.quiet or (not line and self.severity == "error")
            self.severity = None
            if keep:
                self.stream.write(line + end)
            return
        if self.quiet and self.severity != "error":
            return
        self.stream.write(
            (paint_diagnostic_line(line, self.severity) if self.colour else line) + end
        )

    def flush(self) -> None:
        if self.pending:
            line, self.pending = self.pending, ""
            self._line(line, "")
        self.stream.flush()


@dataclass(frozen=True)
class Terminal:
    """The command line's settings for the running command (click's context object)."""

    colour_stdout: bool
    colour_stderr: bool
    quiet: bool


def install(choice: str, quiet: bool) -> tuple[Terminal, TextIO | None]:
    """The settings for this command; puts the stderr filter in place when it has work to
    do, and returns the stream it stands for (to put back when the command ends)."""
    terminal = Terminal(wants_colour(choice, sys.stdout), wants_colour(choice, sys.stderr), quiet)
    if not (terminal.colour_stderr or quiet):
        return terminal, None
    original = sys.stderr
    sys.stderr = cast(TextIO, StderrFilter(original, terminal.colour_stderr, quiet))
    return terminal, original


def uninstall(original: TextIO | None) -> None:
    if original is not None and sys.stderr is not original:
        sys.stderr.flush()
        sys.stderr = original
