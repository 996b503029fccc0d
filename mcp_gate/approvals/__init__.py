"""Human approval of held calls: the broker (state machine), its stores, and the channels."""

from mcp_gate.approvals.broker import CLIENT, ApprovalRequest, Broker, DecisionRefused
from mcp_gate.approvals.channel import Channel, ChannelError
from mcp_gate.approvals.model import Approval, request_digest
from mcp_gate.approvals.store import MemoryStore, SQLiteStore, Store, open_store

__all__ = [
    "CLIENT",
    "Approval",
    "ApprovalRequest",
    "Broker",
    "Channel",
    "ChannelError",
    "DecisionRefused",
    "MemoryStore",
    "SQLiteStore",
    "Store",
    "open_store",
    "request_digest",
]
