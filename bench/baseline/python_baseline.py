#!/usr/bin/env python3
"""The obvious alternative to the bridge: a stdlib-only Python script a force's IT team
could write in an afternoon (issue #14). It is the baseline `reportbridge-bench` runs
beside the bridge, on a copy of the same store, so the README can report a ratio.

What it does, per batch of 5,000 rows read from the app's SQLite store by seq:
  - json.loads each payload; checks required fields, types and the kind enum
    (invalid rows get status `rejected`);
  - maps concerns and information to the neighbourhood team's CSV columns with
    simple transforms (trim, collapse whitespace, upper case, a category lookup,
    a length cap) and writes them to a CSV file atomically (temp file, fsync, rename,
    fsync of the folder);
  - records the processed (id, version) pairs and its cursor in its own SQLite file,
    in one synchronous=FULL transaction per batch;
  - writes a status row per submission back to the store's submission_status table.
What it does not do (and the bridge does): late-row gaps, deduplication, other targets,
retries, dead letters, audit trail, metrics, attachments.

Usage: python_baseline.py STORE.db STATE.db OUT_DIR
"""
import csv
import io
import json
import os
import re
import sqlite3
import sys

BATCH = 5000
KINDS = {"concern", "complaint", "information", "feedback", "compliment"}
REQUIRED = {"id": str, "version": int, "submitted_at": str, "kind": str, "description": str}
CATEGORIES = {}
COLUMNS = ["AppReference", "Version", "SubmittedAt", "Kind", "Category", "Summary",
           "Description", "Address", "Postcode", "Latitude", "Longitude", "Ongoing", "Source",
           "AttachmentIds"]
SPACES = re.compile(r"\s+")


def load_lookup(path):
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            CATEGORIES[row["key"]] = row["value"]


def valid(doc, row_id, row_version):
    if not isinstance(doc, dict):
        return False
    for key, kind in REQUIRED.items():
        value = doc.get(key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return False
    if doc["kind"] not in KINDS or doc["id"] != row_id or doc["version"] != row_version:
        return False
    if len(doc["description"]) > 10000:
        return False
    for key in ("location", "occurred", "reporter"):
        if doc.get(key) is not None and not isinstance(doc[key], dict):
            return False
    return True


def text(value):
    return "" if value is None else str(value)


def to_row(doc):
    loc = doc.get("location") or {}
    occ = doc.get("occurred") or {}
    summary = SPACES.sub(" ", text(doc.get("summary")).strip()) or "(no summary)"
    return [doc["id"], str(doc["version"]), doc["submitted_at"], doc["kind"].upper(),
            CATEGORIES.get(doc.get("category"), "OTHER"), summary[:120],
            doc["description"].strip()[:4000], text(loc.get("address")),
            text(loc.get("postcode")).strip().upper(), text(loc.get("lat")), text(loc.get("lon")),
            "true" if occ.get("ongoing") else "false", "PUBLIC_APP",
            ";".join(text(a.get("id")) for a in doc.get("attachments") or [] if isinstance(a, dict))]


def publish(out_dir, name, rows):
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    tmp = os.path.join(out_dir, "." + name + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(buf.getvalue())
        f.flush()
        os.fsync(f.fileno())
    os.rename(tmp, os.path.join(out_dir, name))
    fd = os.open(out_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main():
    store_path, state_path, out_dir = sys.argv[1:4]
    os.makedirs(out_dir, exist_ok=True)
    load_lookup(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "mappings",
                             "lookups", "npt_categories.csv"))
    store = sqlite3.connect(store_path, isolation_level=None)
    store.text_factory = bytes  # bad rows hold invalid UTF-8: json.loads decides
    state = sqlite3.connect(state_path, isolation_level=None)
    state.execute("PRAGMA journal_mode=WAL")
    state.execute("PRAGMA synchronous=FULL")
    state.execute("CREATE TABLE IF NOT EXISTS processed (id TEXT, version INTEGER,"
                  " PRIMARY KEY (id, version)) WITHOUT ROWID")
    state.execute("CREATE TABLE IF NOT EXISTS cursor (k INTEGER PRIMARY KEY, seq INTEGER)")
    got = state.execute("SELECT seq FROM cursor WHERE k = 1").fetchone()
    after = got[0] if got else 0
    total = files = 0
    while True:
        rows = store.execute("SELECT seq, id, version, payload FROM submissions WHERE seq > ?"
                             " ORDER BY seq LIMIT ?", (after, BATCH)).fetchall()
        if not rows:
            break
        out, statuses, seen = [], [], []
        for seq, row_id, row_version, payload in rows:
            row_id = row_id.decode("utf-8", "replace")
            if state.execute("SELECT 1 FROM processed WHERE id = ? AND version = ?",
                             (row_id, row_version)).fetchone():
                continue
            seen.append((row_id, row_version))
            try:
                doc = json.loads(payload)
            except ValueError:  # includes invalid UTF-8
                doc = None
            if not valid(doc, row_id, row_version):
                statuses.append((row_id, "rejected", "We could not read this report."))
                continue
            if doc["kind"] in ("concern", "information"):
                out.append(to_row(doc))
                statuses.append((row_id, "forwarded", "Passed to your neighbourhood team."))
            else:
                statuses.append((row_id, "received", "Received."))
        if out:
            files += 1
            publish(out_dir, "npt-%06d.csv" % files, out)
        after = rows[-1][0]
        state.execute("BEGIN")
        state.executemany("INSERT OR IGNORE INTO processed VALUES (?, ?)", seen)
        state.execute("INSERT OR REPLACE INTO cursor VALUES (1, ?)", (after,))
        state.execute("COMMIT")
        store.execute("BEGIN")
        store.executemany("INSERT INTO submission_status (submission_id, state, message, updated_at)"
                          " VALUES (?, ?, ?, strftime('%Y-%m-%dT%H:%M:%SZ','now'))"
                          " ON CONFLICT (submission_id) DO UPDATE SET state = excluded.state,"
                          " message = excluded.message, updated_at = excluded.updated_at",
                          statuses)
        store.execute("COMMIT")
        total += len(rows)
    print("baseline: read %d rows, %d files" % (total, files))


if __name__ == "__main__":
    main()
