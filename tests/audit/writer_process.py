"""A process that writes audit records in a loop, for crash and resource-limit tests.

    python writer_process.py LOG [--limit BYTES] [--record-bytes N]

Without ``--limit`` it writes until it is killed.  With it, the file size limit
(RLIMIT_FSIZE) makes writes fail as a full disk would; the process then prints
``{"written": N, "error": "..."}`` and exits.
"""

from __future__ import annotations

import argparse
import json
import resource
import signal

from mcp_gate.audit import AuditError, AuditLog


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("log")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--record-bytes", type=int, default=200)
    args = parser.parse_args()
    if args.limit is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get EFBIG instead of dying
        resource.setrlimit(resource.RLIMIT_FSIZE, (args.limit, args.limit))
    log = AuditLog(args.log, fsync="never")
    log.open()
    written = 0
    fields = {"call_id": "c", "principal": "load", "tool": "t", "outcome": "failed", "error": "x" * args.record_bytes, "duration_ms": 1}
    try:
        while True:
            log.write("tool.failed", {**fields, "call_id": f"c{written}"})
            written += 1
    except AuditError as exc:
        print(json.dumps({"written": written, "error": str(exc)}), flush=True)
    log.close()


if __name__ == "__main__":
    main()
