"""`reconciler backfill`: bring existing repositories in line; never touches the provider config.

What the `workflow_dispatch` workflow runs, in batches chosen by `--repository` globs: there it applies the
plan its approver saw (`--plan`, from `plan --repositories-only`) with `--fail-on-stale`, as apply does.
"""

from __future__ import annotations

import argparse

from reconciler.commands.apply import add_arguments as add_apply_arguments
from reconciler.commands.apply import run_write


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_apply_arguments(parser)


def run(args: argparse.Namespace) -> int:
    # A saved plan's provider config and templates are left alone: backfill writes repositories only.
    return run_write(args, include_provider=False, saved_plan=args.plan)
