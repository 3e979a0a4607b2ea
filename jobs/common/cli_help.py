"""Every job's argument parser: defaults shown, every option described, examples in the epilog.

    EXAMPLES = '''
    # ingest the sample tree
    facelake ingest --source demo/siw --lake demo/lake
    '''
    parser = job_parser("ingest", __doc__, examples=EXAMPLES)

The options themselves are declared with `jobs.common.options`.

Options get `help=` text; `ArgumentDefaultsHelpFormatter` appends "(default: X)" to
every option whose default is not None/False, so help never hides a default.
Usage errors go to the terminal even while the job's stderr is its log file.
"""

from __future__ import annotations

import argparse
import sys
import textwrap

from jobs.common import console


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults appended to each option's help; description and epilog keep their line breaks."""

    def _get_help_string(self, action: argparse.Action) -> str:
        # no "(default: None)" / "(default: False)" noise for flags and options without a default
        if action.default is None or action.default is False or action.default is argparse.SUPPRESS:
            return action.help or ""
        return super()._get_help_string(action)


class JobArgumentParser(argparse.ArgumentParser):
    def _print_message(self, message: str, file=None) -> None:
        if message and file is sys.stderr:
            file = console.stream()
        super()._print_message(message, file)


def format_examples(examples: str) -> str:
    """`examples`: `# what it does` and `the command` lines, as a user types them."""
    lines = textwrap.dedent(examples).strip().splitlines()
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def job_parser(job: str, description: str | None, *, examples: str, notes: str | None = None) -> JobArgumentParser:
    """A job's parser, with `--verbose` (see `jobs.common.logs`) and its examples in the epilog.

    `description`: the module's docstring; its first paragraph is the summary line.
    `notes`: extra epilog text printed before the examples (e.g. a named query's parameters).
    """
    epilog = format_examples(examples)
    if notes:
        epilog = notes.rstrip() + "\n\n" + epilog
    parser = JobArgumentParser(
        prog=f"facelake {job}", description=description, epilog=epilog, formatter_class=HelpFormatter
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show every log line live (Ray, TensorFlow, native libraries) besides facelake's; "
        "by default they go only to the log file named at the end",
    )
    return parser
