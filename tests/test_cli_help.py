"""The command line's edges (issue 16): help that shows every default and an example, the
README and docs/cli.md in step with the parsers, `--version`, and a wrong lake refused by
every job that reads one, with nothing created."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.cli import COMMAND_GROUPS, COMMANDS, command_module
from schemas import ALL_TABLES
from tests.conftest import REPO, subprocess_env, tree_digest


def _cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobs.cli", *args],
        cwd=cwd,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _parser(command: str) -> argparse.ArgumentParser:
    return importlib.import_module(command_module(command)).build_parser()


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_help_describes_every_option_shows_every_default_and_gives_examples(command):
    parser = _parser(command)
    text = parser.format_help()
    assert parser.prog == f"facelake {command}"
    assert "\nexamples:\n" in text and f"  facelake {command} " in text.split("\nexamples:\n", 1)[1]
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        assert action.help and action.help.strip(), f"{command} {action.option_strings or action.dest}: no help text"
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            continue
        shown = action.default if not isinstance(action.default, (list, tuple)) else action.default
        assert f"(default: {shown})" in " ".join(parser._get_formatter()._format_action(action).split()), (
            f"{command} {action.option_strings}: default {action.default!r} not shown"
        )
    assert "the notes" not in text.lower(), f"{command} --help refers to 'the notes'"


def test_the_command_list_is_grouped_one_command_per_line_and_version_is_there():
    result = _cli("--help")
    assert result.returncode == 0
    listed = [line.split()[0] for line in result.stdout.splitlines() if line.startswith("    ")]
    assert listed == [name for commands in COMMAND_GROUPS.values() for name in commands]
    for group in COMMAND_GROUPS:
        assert f"  {group}:\n" in result.stdout
    from importlib.metadata import version

    result = _cli("--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"facelake {version('facelake')}")


def test_readme_and_docs_cli_are_generated_from_the_real_help():
    from jobs.cli_docs import cli_reference, readme_with_section

    readme = (REPO / "README.md").read_text()
    assert readme_with_section(readme) == readme, "README's CLI section is stale: run python -m jobs.cli_docs"
    assert (REPO / "docs" / "cli.md").read_text() == cli_reference(), (
        "docs/cli.md is stale: run python -m jobs.cli_docs"
    )


# every job that reads a lake it did not build, with the arguments it needs besides --lake
READERS = {
    "audit": [],
    "sql": ["SELECT 1"],
    "report": ["--out", "{out}/report.html"],
    "catalog": [],
    "embed": [],
    "dedup": [],
    "train": ["--out", "{out}/models"],
    "score": ["--model", "{out}/models/P1"],
    "forget": ["--subject", "1"],
    "maintain": [],
}


@pytest.fixture(scope="module")
def wrong_lakes(tmp_path_factory, clean_ingest):
    base = tmp_path_factory.mktemp("wrong-lakes")
    (base / "a-file.txt").write_text("not a lake\n")
    folder = base / "a-folder"
    (folder / "Train" / "live").mkdir(parents=True)
    (folder / "Train" / "live" / "notes.txt").write_text("a folder of other things\n")
    return {
        "missing": (base / "missing", "no such folder"),
        "file": (base / "a-file.txt", "it is a file"),
        "folder": (folder, f"none of its tables ({', '.join(ALL_TABLES)}) is there"),
        "one table": (
            clean_ingest.lake / "videos",
            f"it is one Delta table; the lake is its parent folder {clean_ingest.lake}",
        ),
    }


@pytest.mark.parametrize("kind", ["missing", "file", "folder", "one table"])
@pytest.mark.parametrize("command", sorted(READERS))
def test_a_job_on_a_path_without_a_lake_exits_2_and_creates_nothing(command, kind, wrong_lakes, clean_ingest, tmp_path):
    assert set(READERS) == set(COMMANDS) - {"sample", "ingest", "register", "predict"}
    lake, why = wrong_lakes[kind]
    out = tmp_path / "out"
    watched = {"base": lake.parent, "lake": clean_ingest.lake}
    before = {name: tree_digest(path) for name, path in watched.items()}
    result = _cli(command, "--lake", str(lake), *(arg.format(out=out) for arg in READERS[command]), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"facelake {command}: error: no facelake lake at {lake}: {why}; "
        "pass the lake root that `facelake ingest` or `facelake register` wrote"
    ]
    assert {name: tree_digest(path) for name, path in watched.items()} == before
    assert not lake.exists() or kind != "missing"
    assert list(tmp_path.iterdir()) == []
