"""Arguments shared by plan, apply and backfill, so they mean the same everywhere."""

from __future__ import annotations

import argparse

from reconciler.live.ecr import (
    DEFAULT_CONCURRENCY,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_RPS,
    DEFAULT_READ_TIMEOUT,
)
from reconciler.live.ratelimit import DEFAULT_MAX_CONCURRENCY
from reconciler.run.settings import Scope, Tuning


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def add_scope_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policies", default="policies", metavar="DIR", help="desired state (default: policies)"
    )
    parser.add_argument("--registry", metavar="NAME", help="only this registry (default: all)")
    parser.add_argument(
        "--repository",
        action="append",
        default=[],
        metavar="GLOB",
        help="only repositories matching this glob (repeatable)",
    )


def add_tuning_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=DEFAULT_CONCURRENCY,
        metavar="N",
        help=(
            "ECR calls in flight per action, fixed (default: as many as the current rate needs at the "
            f"measured latency, up to {DEFAULT_MAX_CONCURRENCY})"
        ),
    )
    parser.add_argument(
        "--max-rps",
        type=positive_float,
        default=DEFAULT_MAX_RPS,
        metavar="N",
        help=(
            "ceiling: at most N calls per second per ECR API action, per registry; under it the rate "
            f"adapts to the account's limit (default: {DEFAULT_MAX_RPS:g})"
        ),
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress output on stderr")
    parser.add_argument(
        "--connect-timeout",
        type=positive_float,
        default=DEFAULT_CONNECT_TIMEOUT,
        metavar="S",
        help=f"seconds to connect to ECR (default: {DEFAULT_CONNECT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--read-timeout",
        type=positive_float,
        default=DEFAULT_READ_TIMEOUT,
        metavar="S",
        help=f"seconds to wait for an ECR answer (default: {DEFAULT_READ_TIMEOUT:g})",
    )
    parser.add_argument(
        "--max-attempts",
        type=positive_int,
        default=DEFAULT_MAX_ATTEMPTS,
        metavar="N",
        help=f"attempts per ECR call, retries included (default: {DEFAULT_MAX_ATTEMPTS})",
    )


def scope_from(args: argparse.Namespace, *, include_provider: bool = True) -> Scope:
    return Scope(
        registry=args.registry,
        repositories=tuple(args.repository),
        include_provider=include_provider and not args.repository,
    )


def tuning_from(args: argparse.Namespace) -> Tuning:
    return Tuning(
        concurrency=args.concurrency,
        max_rps=args.max_rps,
        progress=not args.no_progress,
        connect_timeout=args.connect_timeout,
        read_timeout=args.read_timeout,
        max_attempts=args.max_attempts,
    )
