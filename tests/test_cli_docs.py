"""docs/ and the parsers agree: every command's synopsis names exactly the options ``--help`` shows.

A synopsis is a line in a fenced code block of docs/*.md that starts with
``attest COMMAND [SUBCOMMAND]``, with its indented continuation lines. For
every leaf command of :func:`attest._cli.build_parser`, the options in its
synopses (across the docs) must be the parser's options, and every synopsis
must name a real command. The log options every command takes (``-q``,
``-v``, ``--log-level``) are documented once, not per synopsis.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from attest._cli import build_parser

DOCS = Path(__file__).resolve().parents[1] / "docs"
_COMMON = {"-h", "--help", "-q", "--quiet", "-v", "--verbose", "--log-level"}
_OPTION = re.compile(r"(?<![\w-])(--?[a-zA-Z][\w-]*)")


def _leaves(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> dict[tuple[str, ...], set[str]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        return {path: {s for a in parser._actions for s in a.option_strings} - _COMMON}
    out: dict[tuple[str, ...], set[str]] = {}
    for action in subs:
        for name, child in action.choices.items():
            out.update(_leaves(child, (*path, name)))
    return out


def _synopses(commands: set[tuple[str, ...]]) -> dict[tuple[str, ...], set[str]]:
    """Options named per command in the docs' code blocks (a command may have several synopses)."""
    found: dict[tuple[str, ...], set[str]] = {}
    for doc in sorted(DOCS.glob("*.md")):
        in_block = False
        current: tuple[str, ...] | None = None
        for raw in doc.read_text(encoding="utf-8").splitlines():
            if raw.startswith("```"):
                in_block, current = not in_block, None
                continue
            if not in_block:
                continue
            line = raw.split("$(")[0]  # a shell substitution in an example is not the command's options
            words = line.split()
            if words[:1] == ["attest"] and line.startswith("attest "):
                current = max((c for c in commands if tuple(words[1 : 1 + len(c)]) == c), key=len, default=None)
                if current is None and len(words) > 1 and re.fullmatch(r"[a-z][a-z-]*", words[1]):
                    pytest.fail(f"{doc.name}: synopsis of an unknown command: {line.strip()}")
                if current is not None:
                    found.setdefault(current, set()).update(_OPTION.findall(line))
            elif current is not None and line.startswith(" ") and line.strip():
                found[current].update(_OPTION.findall(line))
            else:
                current = None
    return found


def test_every_command_has_a_synopsis_with_exactly_its_options() -> None:
    leaves = _leaves(build_parser())
    synopses = _synopses(set(leaves))
    problems = []
    for command, options in sorted(leaves.items()):
        name = "attest " + " ".join(command)
        if command not in synopses:
            problems.append(f"{name}: no synopsis in docs/")
            continue
        documented = synopses[command] - _COMMON
        if missing := sorted(options - documented):
            problems.append(f"{name}: not in its synopsis: {', '.join(missing)}")
        if extra := sorted(documented - options):
            problems.append(f"{name}: in the synopsis but not accepted: {', '.join(extra)}")
    assert not problems, "\n".join(problems)


def test_the_check_finds_a_drifted_option(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The comparison itself can fail: a docs tree whose verify synopsis lacks --json.
    fake = tmp_path / "docs"
    fake.mkdir()
    (fake / "cli.md").write_text("```\nattest verify --device TARGET --baseline FILE\n```\n", encoding="utf-8")
    monkeypatch.setattr(__import__(__name__), "DOCS", fake)
    leaves = _leaves(build_parser())
    got = _synopses(set(leaves))
    assert got[("verify",)] == {"--device", "--baseline"}
    assert "--json" in leaves[("verify",)] - got[("verify",)]
