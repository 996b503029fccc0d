"""The audit trail: one hash-chained JSON line per event, written before the gateway acts on it.

The gateway talks to the log through ``AuditLog.write(event, fields)`` only, so the
writer can grow (hash chain, rotation, fsync policy) without the gateway changing.
"""

from mcp_gate.audit.writer import AuditError, AuditLog, Checkpoints

__all__ = ["AuditError", "AuditLog", "Checkpoints"]
