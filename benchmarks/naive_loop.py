"""The script a user would write instead of the reconciler: one serial boto3 loop.

List every repository, read its policy, compare it with the desired policy by JSON equality after parsing,
and set the desired policy wherever they differ. It is deliberately what people write first (and what the
benchmark measures honestly): no pacing, no concurrency, boto3's default retries, no notion of statements
it does not own, so a repository's other statements (Lambda's, for example) are overwritten with the rest.

    python benchmarks/naive_loop.py --policy desired.json --skip-prefix sandbox/ [--dry-run]

It reads the standard AWS environment (AWS_ENDPOINT_URL, AWS_DEFAULT_REGION, credentials) and prints one
JSON line: repositories seen, skipped, differing and written.
"""

from __future__ import annotations

import argparse
import json
import sys

import boto3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", required=True, help="the desired policy document (JSON file)")
    parser.add_argument("--skip-prefix", action="append", default=[], help="repository names to leave alone")
    parser.add_argument("--dry-run", action="store_true", help="compare only, write nothing")
    args = parser.parse_args()

    with open(args.policy, encoding="utf-8") as handle:
        desired = json.load(handle)
    desired_text = json.dumps(desired)

    ecr = boto3.client("ecr")
    seen = skipped = differing = written = 0
    for page in ecr.get_paginator("describe_repositories").paginate():
        for repository in page["repositories"]:
            name = repository["repositoryName"]
            seen += 1
            if any(name.startswith(prefix) for prefix in args.skip_prefix):
                skipped += 1
                continue
            try:
                current = json.loads(ecr.get_repository_policy(repositoryName=name)["policyText"])
            except ecr.exceptions.RepositoryPolicyNotFoundException:
                current = None
            if current == desired:
                continue
            differing += 1
            if not args.dry_run:
                ecr.set_repository_policy(repositoryName=name, policyText=desired_text)
                written += 1
    summary = {"seen": seen, "skipped": skipped, "differing": differing, "written": written}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
