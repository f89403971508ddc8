"""The `reconciler` command line: parses arguments, picks the command module, maps errors to exit codes.

Each subcommand lives in its own module exposing `add_arguments(parser)` and `run(args) -> int`; modules
are imported lazily so that `reconciler validate` never pays for importing boto3.

Exit codes, the same for every command (EXIT_CODES, shown in each `--help`; docs/CLI.md): 0 success; 1 any
error, usage errors included (argparse's own 2 would read as "changes" to a script); 2 changes, findings
or drift, only where a command documents it; 130 interrupted (Ctrl-C: the run stops at once, no AWS call is
sent after it).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn, Protocol

from reconciler import __version__
from reconciler.errors import ReconcilerError, ValidationFailed
from reconciler.live import stop

COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("reconciler.validation.command", "check policies/ and show the rendered policies"),
    "plan": ("reconciler.commands.plan", "show what would change (text, markdown or JSON)"),
    "apply": ("reconciler.commands.apply", "apply a plan: provider config and repositories"),
    "backfill": ("reconciler.commands.backfill", "bring existing repositories in line (no provider config)"),
    "access": ("reconciler.commands.access", "who can pull what: an audit of every live repository policy"),
    "restore": ("reconciler.commands.restore", "put back the policies an apply report recorded"),
    "comment": ("reconciler.commands.comment", "post or update the sticky pull-request comment"),
    "drift-issue": ("reconciler.commands.drift_issue", "open, update or close the one drift tracking issue"),
    "registries": ("reconciler.validation.registries", "list the registries in policies/ (for a CI matrix)"),
    "sandbox": ("reconciler.sandbox.command", "run the emulated ECR and nullplatform API locally"),
    "demo": ("reconciler.sandbox.demo", "run the whole flow against the embedded sandbox"),
}


EXIT_CODES = """\
exit codes (every command):
  0    success (plan: no changes; access: no finding named by --fail-on)
  1    error: bad arguments, invalid policies/, a failed read or write
  2    changes (plan --detailed-exitcode), findings (access --fail-on),
       drift (drift-issue)
  130  interrupted (Ctrl-C)
"""


class Parser(argparse.ArgumentParser):
    """argparse with usage errors exiting 1, as every other error: its default 2 is also what
    `plan --detailed-exitcode` and `access --fail-on` return for "changes" and "findings", so a typo in a
    flag would read as a result in CI."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(1, f"{self.prog}: error: {message}\n")


class CommandModule(Protocol):
    def add_arguments(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def _load(name: str) -> CommandModule:
    module: CommandModule = importlib.import_module(COMMANDS[name][0])
    return module


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = Parser(
        prog="reconciler",
        description="GitOps for cross-account pull access to AWS ECR.",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    # Only the chosen command's module is imported (and so only it adds its arguments).
    chosen = next((a for a in argv if a in COMMANDS), None)
    for name, (_, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(
            name,
            help=help_text,
            description=help_text,
            epilog=EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name == chosen:
            _load(name).add_arguments(command_parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    stop.reset()
    try:
        with stop.ctrl_c_stops_the_run():
            args = build_parser(arguments).parse_args(arguments)
            return _load(args.command).run(args)
    except stop.RunStopped as exc:
        # Ctrl-C seen by a worker, or AWS credentials expired: one message, nothing more is sent.
        print(f"error: {exc}" if exc.exit_code != 130 else str(exc), file=sys.stderr)
        return exc.exit_code
    except ValidationFailed as exc:
        # plan, apply and backfill report bad policies/ exactly as validate does (annotations included).
        from reconciler.report.problems import report_problems

        report_problems(exc.problems, out=sys.stderr)
        return 1
    except ReconcilerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `reconciler plan | head`: the reader left; say nothing more (stdout is gone).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    raise SystemExit(main())
