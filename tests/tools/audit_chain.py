#!/usr/bin/env python3
"""An independent check of the audit trail's hash chain (docs/audit.md, "Hash chain"),
written from the documentation with Python's hashlib, not from the bridge's code: the
test that runs it fails if the bridge's SHA-256 or its chain ever drift from what the
documentation promises an auditor.

Usage: audit_chain.py AUDIT_DIR   (prints "ok N FILES" or the first break; exit 0 or 1)
Only clean trails (no torn tail, no resumed chain): it is a test helper, not `audit verify`.
"""
import hashlib
import json
import os
import re
import sys

SUFFIX = re.compile(r',"hash":"([0-9a-f]{64})"\}$')


def files(folder):
    rotated = sorted((f for f in os.listdir(folder) if re.fullmatch(r"audit-\d{12}-.*\.jsonl", f)),
                     key=lambda f: int(f.split("-")[1]))
    current = ["audit.jsonl"] if os.path.exists(os.path.join(folder, "audit.jsonl")) else []
    return rotated + current


def main(folder):
    prev = "0" * 64
    seq = 0
    n = 0
    names = files(folder)
    for name in names:
        with open(os.path.join(folder, name), "rb") as f:
            data = f.read()
        if data and not data.endswith(b"\n"):
            return f"{name}: does not end with a line break"
        for number, raw in enumerate(data.split(b"\n")[:-1], start=1):
            line = raw.decode("utf-8")
            where = f"{name}:{number}"
            m = SUFFIX.search(line)
            if not m:
                return f"{where}: no hash field at the end"
            head = line[:m.start()]
            if hashlib.sha256(head.encode("utf-8")).hexdigest() != m.group(1):
                return f"{where}: own hash does not match"
            entry = json.loads(line)
            if entry["prev"] != prev:
                return f"{where}: prev does not match the line before"
            if entry["seq"] != seq + 1:
                return f"{where}: seq {entry['seq']} after {seq}"
            seq = entry["seq"]
            prev = hashlib.sha256(raw).hexdigest()
            n += 1
    print(f"ok {n} {len(names)}")
    return None


if __name__ == "__main__":
    error = main(sys.argv[1])
    if error:
        print(error)
        sys.exit(1)
