"""PHI/PII masking: validated detectors, JSON-aware walking, session tokens, unmask-on-return.

The gateway builds one ``Masker`` from ``config.masking`` and a per-process key,
one ``MaskingSession`` per MCP client session, and masks every result with
``session.mask_result``.  ``MaskingError`` means "do not pass the value on".
docs/masking.md describes the entities, operators and configuration.
"""

from mcp_gate.masking.engine import Masker, MaskingError, MaskingSession, UnmaskReport
from mcp_gate.masking.scanner import Finding

__all__ = ["Finding", "Masker", "MaskingError", "MaskingSession", "UnmaskReport"]
