"""Write the command line's reference from the real `--help`: docs/cli.md (every command's help)
and README's "The command line" section (the overview and each command's usage), between
the `<!-- cli:begin -->` / `<!-- cli:end -->` markers. tests/test_cli_help.py fails when
either is out of step with the parsers; then run `python -m jobs.cli_docs`.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- cli:begin -->", "<!-- cli:end -->"
WIDTH = "100"  # help is wrapped to the terminal's width: fixed here so the docs do not depend on it


def _parsers():
    from jobs.cli import COMMANDS, command_module

    os.environ["COLUMNS"] = WIDTH
    for name in COMMANDS:
        yield name, importlib.import_module(command_module(name)).build_parser()


def _top_help() -> str:
    from jobs.cli import build_parser

    os.environ["COLUMNS"] = WIDTH
    return build_parser().format_help()


def cli_reference() -> str:
    parts = [
        "# The facelake command line\n",
        "Generated from the real `--help` by `python -m jobs.cli_docs`; do not edit by hand.\n",
        "```\n" + _top_help().rstrip() + "\n```\n",
    ]
    for name, parser in _parsers():
        parts.append(f"## facelake {name}\n\n```\n{parser.format_help().rstrip()}\n```\n")
    return "\n".join(parts)


def readme_section() -> str:
    usages = "\n".join(parser.format_usage().rstrip().removeprefix("usage: ") for _, parser in _parsers())
    return (
        f"{BEGIN}\n```\n{_top_help().rstrip()}\n```\n\nEach command's options, with their defaults and examples "
        f"(`facelake COMMAND --help`, all of them in [docs/cli.md](docs/cli.md)):\n\n```\n{usages}\n```\n{END}"
    )


def readme_with_section(readme: str) -> str:
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(readme):
        raise ValueError(f"README.md has no {BEGIN} ... {END} section")
    return pattern.sub(lambda _: readme_section(), readme)


def main() -> int:
    (REPO / "docs" / "cli.md").write_text(cli_reference())
    readme = REPO / "README.md"
    readme.write_text(readme_with_section(readme.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
