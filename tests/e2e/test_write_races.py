"""Writes racing someone else: the provider config's policy edited in nullplatform between the read the plan
was made from and the write (a normal apply, without a saved plan, does not re-read before writing)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sample_registry import DESIRED, OLD, provider_attributes, run_cli

from reconciler.apply.journal import final_records, read_journal
from reconciler.apply.restore import restore_targets
from reconciler.live.nullplatform import NullplatformClient

from .conftest import World

FAST = ("--no-progress", "--max-rps", "500")
PATCH = "PATCH /provider/{provider_id}"
HAND_EDIT = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "HandEdit",
                "Effect": "Allow",
                "Principal": {"AWS": "arn:aws:iam::555566667777:root"},
                "Action": "ecr:BatchGetImage",
            }
        ],
    }
)


def test_a_provider_policy_edited_after_the_plan_read_it_is_stale_not_overwritten(
    world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_policy = NullplatformClient.write_policy

    def edited_first(self: NullplatformClient, *args: Any) -> None:
        # Someone edits the policy in nullplatform after the plan read it, just before the write.
        world.nullplatform.set_attributes(world.provider_id, provider_attributes(HAND_EDIT))
        write_policy(self, *args)

    monkeypatch.setattr(NullplatformClient, "write_policy", edited_first)
    # What the plan reads (and the change is planned against): OLD, not the hand edit made after it.
    assert world.nullplatform.provider(world.provider_id)["attributes"]["setup"]["policy"] == OLD
    code, _, err = run_cli(
        capsys, "apply", "--policies", str(world.policies), "--report", str(world.report), *FAST
    )
    assert code == 0, err
    assert f"stale, skipped: main/{world.provider_id}: nullplatform provider" in err
    assert world.nullplatform.provider(world.provider_id)["attributes"] == provider_attributes(HAND_EDIT)
    assert PATCH not in world.nullplatform.stats()["requests"]
    (line,) = [r for r in final_records(read_journal(world.report)) if r.target == "provider"]
    # The line holds what the provider holds now (the hand edit), not what the plan read: a restore of this
    # report must not put OLD back over the hand edit.
    assert (line.result, line.before, line.after) == ("stale", HAND_EDIT, DESIRED)
    assert "changed since it was read for the plan" in (line.error or "")
    # Nothing was written to the provider, so restore has nothing to put back there.
    assert [t for t in restore_targets(read_journal(world.report)) if t.target == "provider"] == []
