"""The access delta resolved against the sandbox's organization (root > workloads > clusters > prod, payments;
shared-services holds the registry's account): a respelled OU path and an account inside a granted OU are no
loss; a real narrowing names the OU and the accounts that lose pull; the registry's own account is a note
apart; creation templates join the headline."""

from __future__ import annotations

from reconciler.desired.model import CreationTemplate, PullAccess, Registry
from reconciler.live.state import LivePolicy, LiveRegistry, LiveTemplate
from reconciler.plan.access_changes import OU, access_changes, losses, own_account_text, possible_losses
from reconciler.plan.build import build_registry_plan
from reconciler.plan.model import Plan, RegistryPlan
from reconciler.policy.organization import OrgAccount, Organization, OrgUnit
from reconciler.policy.render import policy_text, render_policy
from reconciler.report.markdown import render_markdown
from reconciler.report.text import render_text
from reconciler.sandbox.ecr.organizations import (
    CLUSTERS_OU,
    DEFAULT_ORGANIZATION,
    ORG_ID,
    PROD_OU,
    ROOT_ID,
    WORKLOADS_OU,
)

ACCOUNT = "123456789012"  # the registry's, a member in shared-services
STAR_PATH = f"{ORG_ID}/*/{CLUSTERS_OU}/*"
FULL_PATH = f"{ORG_ID}/{ROOT_ID}/{WORKLOADS_OU}/{CLUSTERS_OU}/*"
PROD_PATH = f"{ORG_ID}/*/{PROD_OU}/*"
LIVE = PullAccess((STAR_PATH,), ("111122223333", "444455556666"))  # 444455556666 sits in prod, in clusters


def sandbox_organization() -> Organization:
    spec = DEFAULT_ORGANIZATION
    return Organization(
        id=spec.id,
        management_account=spec.management_account,
        roots=(spec.root,),
        units={u.id: OrgUnit(u.id, u.name, u.parent) for u in spec.units},
        accounts={a.id: OrgAccount(a.id, a.name, a.state, a.parent) for a in spec.accounts},
    )


def plan(
    desired: PullAccess,
    *,
    organization: Organization | None,
    templates: tuple[CreationTemplate, ...] = (),
    live_templates: tuple[LiveTemplate, ...] = (),
    live: PullAccess = LIVE,
) -> RegistryPlan:
    registry = Registry("main", ACCOUNT, "us-east-1", desired, creation_templates=templates)
    text = policy_text(render_policy(ACCOUNT, live))
    policies = tuple(LivePolicy(f"team-{i}/app", text) for i in range(3))
    return build_registry_plan(
        registry, LiveRegistry("main", policies, None, templates=live_templates), organization
    )


def test_a_respelled_path_and_an_account_inside_the_granted_ou_are_no_loss() -> None:
    desired = PullAccess((FULL_PATH,), ("111122223333",))  # 444455556666 dropped: it is in clusters/prod
    result = plan(desired, organization=sandbox_organization())
    assert len(result.changes) == 3  # the text changes...
    assert access_changes(result) == ()  # ...and nobody's access does
    assert own_account_text(result) is None
    whole = Plan("t", "f", (result,))
    assert "[!WARNING]" not in render_markdown(whole)
    assert "Access changes" not in render_text(whole)
    # Without the organization the same edit cannot be proven harmless: said so, never dropped.
    unknown = plan(desired, organization=None)
    assert not losses(unknown)
    assert {c.principal for c in possible_losses(unknown)} == {"444455556666", STAR_PATH}
    body = render_markdown(Plan("t", "f", (unknown,)))
    assert (
        "> - account `444455556666` may lose pull (can't tell without `organization:`) on 3 repositories"
        in (body)
    )


def test_a_real_narrowing_is_a_loss_naming_the_ou_and_its_accounts() -> None:
    # From all of clusters (and two accounts) to prod only: clusters' own account loses pull.
    result = plan(PullAccess((PROD_PATH,), ()), organization=sandbox_organization())
    (lost,) = losses(result)
    assert (lost.kind, lost.principal, lost.loses.repositories) == (OU, CLUSTERS_OU, 3)
    assert lost.loss_text() == (
        f"OU {CLUSTERS_OU} (clusters: account 111122223333) loses pull on 3 repositories"
    )
    assert possible_losses(result) == ()
    # 444455556666 (in prod) keeps pull: it is in no line at all.
    assert all("444455556666" not in c.label() for c in access_changes(result))
    whole = Plan("t", "f", (result,))
    body = render_markdown(whole)
    assert (
        body.index("> [!WARNING]")
        < body.index("> **Access removed.**")
        < body.index(f"> - OU `{CLUSTERS_OU}` (clusters: account 111122223333) loses pull on 3 repositories")
    )
    # The registry's own account (shared-services) is no longer named: a note, not in the warning.
    note = body.index("> [!NOTE]")
    assert f"own account {ACCOUNT} on 3 repositories" in body[note:]
    assert ACCOUNT not in body[body.index("> [!WARNING]") : note]
    assert f"Grants resolved in AWS Organizations {ORG_ID}." in body
    lines = render_text(whole).splitlines()
    resolved = f"resolved in AWS Organizations {ORG_ID}"
    header = f"  Access changes (new repositories get the provider config's policy; {resolved}):"
    assert header in lines
    assert f"    - OU {CLUSTERS_OU} (clusters: account 111122223333) loses pull on 3 repositories" in lines
    assert any(
        line.startswith(f"    note: the policy no longer names the registry's own account {ACCOUNT}")
        for line in lines
    )


def test_an_account_dropped_outside_every_granted_ou_is_a_loss_by_name() -> None:
    desired = PullAccess((STAR_PATH,), ("444455556666",))  # 111122223333 is in clusters: kept
    live = PullAccess((PROD_PATH,), ("111122223333", "777788889999"))  # payments' account: in no granted OU
    result = plan(desired, organization=sandbox_organization(), live=live)
    (lost,) = losses(result)
    assert lost.loss_text() == "account 777788889999 (payments) loses pull on 3 repositories"
    assert [c.principal for c in access_changes(result) if c.gains] == [CLUSTERS_OU]


def test_creation_template_changes_join_the_headline() -> None:
    payments = CreationTemplate("payments", ("CREATE_ON_PUSH",), PullAccess(accounts=("777788889999",)))
    live_template = LiveTemplate(
        "payments", True, policy_text(render_policy(ACCOUNT, LIVE)), ("CREATE_ON_PUSH",)
    )
    result = plan(
        PullAccess((PROD_PATH,), ()),
        organization=sandbox_organization(),
        templates=(payments,),
        live_templates=(live_template,),
    )
    by_principal = {c.principal: c for c in access_changes(result)}
    # Under payments/ only 777788889999 pulls now: all of clusters (prod included) loses there.
    assert by_principal[CLUSTERS_OU].loss_text() == (
        f"OU {CLUSTERS_OU} (clusters: accounts 111122223333, 444455556666) loses pull on 3 repositories and "
        "on repositories ECR creates under payments/"
    )
    assert PROD_OU not in by_principal  # inside clusters, named by it
    assert by_principal["777788889999"].gain_text() == (
        "account 777788889999 (payments) gains pull on repositories ECR creates under payments/"
    )
    assert "repositories ECR creates under payments/" in render_markdown(Plan("t", "f", (result,)))
