"""The approval state machine: who may decide, quorum, first decision wins, expiry, restarts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from mcp_gate.approvals import Broker, DecisionRefused, MemoryStore, SQLiteStore, Store
from mcp_gate.audit import AuditLog
from mcp_gate.config import ApprovalsConfig

from approvals_kit import request

pytestmark = pytest.mark.anyio


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def audit(tmp_path: Path) -> Iterator[AuditLog]:
    log = AuditLog(tmp_path / "audit.jsonl")
    log.open()
    yield log
    log.close()


def broker_with(audit: AuditLog, store: Store | None = None, clock: Clock | None = None, timeout: float = 600) -> Broker:
    return Broker(
        ApprovalsConfig(timeout=timeout),
        store or MemoryStore(),
        audit,
        known_approvers={"alice@example.com", "bob@example.com", "carol@example.com"},
        clock=clock or Clock(),
    )


def events(tmp_path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]


async def test_first_decision_wins_and_later_ones_are_recorded_as_refused(audit: AuditLog, tmp_path: Path) -> None:
    broker = broker_with(audit)
    approval, created = broker.open(request())
    assert created and approval.pending
    await broker.decide(approval.id, "alice@example.com", "approve", via="api")
    assert approval.state == "approved" and approval.decided_by == ["alice@example.com"]
    with pytest.raises(DecisionRefused, match=r"already decided \(approved\)"):
        await broker.decide(approval.id, "bob@example.com", "deny", via="slack", reason="too late")
    refused = [e for e in events(tmp_path) if e["event"] == "approval.decided" and e.get("outcome") == "refused"]
    assert refused[0]["approver"] == "bob@example.com" and refused[0]["reason"] == "already decided (approved)"


async def test_the_same_call_in_the_same_session_attaches_to_the_pending_approval(audit: AuditLog) -> None:
    broker = broker_with(audit)
    first, _ = broker.open(request())
    again, created = broker.open(request(call_id="c2"))
    assert not created and again.id == first.id
    other_session, created = broker.open(request(session="s2"))
    assert created and other_session.id != first.id


async def test_separate_requester_refuses_the_requesters_own_decision(audit: AuditLog) -> None:
    broker = broker_with(audit)
    approval, _ = broker.open(request(separate_requester=True))
    with pytest.raises(DecisionRefused, match="the requester may not approve their own call"):
        await broker.decide(approval.id, "agent@example.com", "approve", via="api")
    with pytest.raises(DecisionRefused, match="needs someone other than the requester"):
        await broker.decide(approval.id, "agent@example.com", "approve", via="client")
    assert approval.pending


async def test_quorum_needs_distinct_approvers_and_ignores_the_client(audit: AuditLog) -> None:
    broker = broker_with(audit)
    approval, _ = broker.open(request(quorum=2))
    with pytest.raises(DecisionRefused, match="the requester's own answer does not count"):
        await broker.decide(approval.id, "agent@example.com", "approve", via="client")
    await broker.decide(approval.id, "alice@example.com", "approve", via="api")
    assert approval.pending
    with pytest.raises(DecisionRefused, match="has already decided"):
        await broker.decide(approval.id, "alice@example.com", "approve", via="slack")
    await broker.decide(approval.id, "bob@example.com", "approve", via="slack")
    assert approval.state == "approved" and approval.decided_by == ["alice@example.com", "bob@example.com"]


async def test_only_listed_or_known_approvers_decide(audit: AuditLog) -> None:
    broker = broker_with(audit)
    listed, _ = broker.open(request(approvers=["alice@example.com"]))
    with pytest.raises(DecisionRefused, match="carol@example.com is not an approver for this rule"):
        await broker.decide(listed.id, "carol@example.com", "approve", via="api")
    anyone, _ = broker.open(request(approvers=None, session="s9"))
    with pytest.raises(DecisionRefused, match="mallory@example.com is not a configured approver"):
        await broker.decide(anyone.id, "mallory@example.com", "approve", via="api")
    await broker.decide(anyone.id, "carol@example.com", "approve", via="api")
    assert anyone.state == "approved"


async def test_a_denial_needs_a_reason_and_one_denial_ends_it(audit: AuditLog) -> None:
    broker = broker_with(audit)
    approval, _ = broker.open(request(quorum=2))
    with pytest.raises(DecisionRefused, match="a denial needs a reason"):
        await broker.decide(approval.id, "alice@example.com", "deny", via="api", reason="  ")
    await broker.decide(approval.id, "alice@example.com", "approve", via="api")
    await broker.decide(approval.id, "bob@example.com", "deny", via="api", reason="not for research")
    assert approval.state == "denied" and approval.outcome_reason == "not for research"


async def test_grants_stay_within_what_the_rule_allows_and_once_releases_one_call(audit: AuditLog) -> None:
    clock = Clock()
    broker = broker_with(audit, clock=clock)
    once, _ = broker.open(request())
    with pytest.raises(DecisionRefused, match="allows granting once, not session"):
        await broker.decide(once.id, "alice@example.com", "approve", via="api", grant="session")
    await broker.decide(once.id, "alice@example.com", "approve", via="api")
    assert broker.consume(once) and not broker.consume(once)

    ttl, _ = broker.open(request(session="s2", digest="d2", grants=["once", "ttl"], grant_ttl=60))
    await broker.decide(ttl.id, "alice@example.com", "approve", via="api", grant="ttl")
    assert broker.standing_grant("d2") is ttl
    assert broker.consume(ttl) and broker.consume(ttl)
    clock.now += 61
    assert broker.standing_grant("d2") is None and not broker.consume(ttl)


async def test_expiry_ends_the_approval_and_later_decisions_are_refused(audit: AuditLog, tmp_path: Path) -> None:
    broker = Broker(ApprovalsConfig(timeout=0.05), MemoryStore(), audit, known_approvers={"alice@example.com"})
    async with anyio.create_task_group() as tg:
        await tg.start(broker.run)
        approval, _ = broker.open(request())
        final = await broker.wait(approval, timeout=10)
        tg.cancel_scope.cancel()
    assert final.state == "expired" and final.outcome_reason == "no decision in time"
    with pytest.raises(DecisionRefused, match=r"already decided \(expired\)"):
        await broker.decide(approval.id, "alice@example.com", "approve", via="api")
    assert "approval.expired" in [e["event"] for e in events(tmp_path)]


async def test_two_approvers_racing_get_exactly_one_decision(audit: AuditLog) -> None:
    broker = broker_with(audit)
    approval, _ = broker.open(request())
    outcomes: list[str] = []

    async def decide(approver: str, verdict: str) -> None:
        try:
            await broker.decide(approval.id, approver, verdict, via="api", reason="race")  # type: ignore[arg-type]
            outcomes.append(f"{approver}:won")
        except DecisionRefused:
            outcomes.append(f"{approver}:refused")

    async with anyio.create_task_group() as tg:
        tg.start_soon(decide, "alice@example.com", "approve")
        tg.start_soon(decide, "bob@example.com", "deny")
    assert sorted(o.split(":")[1] for o in outcomes) == ["refused", "won"]
    assert approval.state in ("approved", "denied")


async def test_a_restart_expires_what_was_pending_and_keeps_decisions(tmp_path: Path, audit: AuditLog) -> None:
    db = tmp_path / "approvals.db"
    first = broker_with(audit, SQLiteStore(db))
    waiting, _ = first.open(request())
    decided, _ = first.open(request(session="s2", digest="other"))
    await first.decide(decided.id, "alice@example.com", "approve", via="api")
    first.store.close()

    restarted = broker_with(audit, SQLiteStore(db))
    async with anyio.create_task_group() as tg:
        await tg.start(restarted.run)
        tg.cancel_scope.cancel()
    after = restarted.get(waiting.id)
    assert after is not None and after.state == "expired"
    assert after.outcome_reason == "the gateway restarted, so the call that asked for it is gone"
    kept = restarted.get(decided.id)
    assert kept is not None and kept.state == "approved" and kept.votes[0].approver == "alice@example.com"
