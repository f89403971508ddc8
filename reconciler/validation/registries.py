"""`reconciler registries`: list the registries in policies/, as a table or as JSON for a CI matrix.

In a workflow: `echo "registries=$(reconciler registries --json)" >> "$GITHUB_OUTPUT"`, then
`matrix: { registry: "${{ fromJSON(needs.list.outputs.registries) }}" }`. The JSON is one line (a GitHub
output needs that) and is a plain array of {"name", "account_id", "region"} objects.
"""

from __future__ import annotations

import argparse
import json
import sys

from reconciler.desired.model import DesiredState
from reconciler.validation.command import load_or_report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policies",
        default="policies",
        metavar="DIR",
        help="directory of policies files (default: policies)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON array (one line) for a CI matrix")


def rows(desired: DesiredState) -> list[dict[str, str]]:
    return [{"name": r.name, "account_id": r.account_id, "region": r.region} for r in desired.registries]


def table(desired: DesiredState) -> str:
    lines = [("NAME", "ACCOUNT_ID", "REGION")] + [
        (r.name, r.account_id, r.region) for r in desired.registries
    ]
    width = max(len(name) for name, _, _ in lines)
    return "\n".join(f"{name:<{width}}  {account:<12}  {region}" for name, account, region in lines)


def run(args: argparse.Namespace) -> int:
    # stdout is data (often captured into a GitHub output): problems go to stderr.
    desired = load_or_report(str(args.policies), sys.stderr)
    if desired is None:
        return 1
    if args.json:
        print(json.dumps(rows(desired), separators=(",", ":")))
    else:
        print(table(desired))
    return 0
