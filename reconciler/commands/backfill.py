"""`reconciler backfill`: bring existing repositories in line; never touches the provider config.

What the `workflow_dispatch` workflow runs, in batches chosen by `--repository` globs.
"""

from __future__ import annotations

import argparse

from reconciler.commands.apply import add_write_arguments, run_write


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_write_arguments(parser)


def run(args: argparse.Namespace) -> int:
    return run_write(args, include_provider=False, saved_plan=None)
