#!/usr/bin/python3
"""A test server for the app store's HTTP API (shared/contracts/app-store.md section 2).

Serves a SQLite submission store (the tests create it with tests/support/app_store.hpp)
on 127.0.0.1. Prints "PORT <n>" on stdout once it listens (port 0 picks a free one).

  GET  /v1/submissions?after=N&limit=M   items in seq order, next_after
  GET  /v1/attachments/{id}              the file under --media-root, streamed
  PUT  /v1/submissions/{id}/status       upserts submission_status

Fault modes come from a JSON file (--faults) re-read on every request, so a test can
change them while the server runs:
  {"hide_seqs": [3, 4],            rows not visible yet (committed late)
   "max_limit": 1000,              largest page served
   "delay_ms": 0,                  sleep before every response (slow server)
   "body_stall_ms": 0,             attachments: sleep after the first chunk
   "reverse_items": false,         a broken server: items in descending seq order
   "fail": [{"method": "GET", "prefix": "/v1/submissions", "status": 503,
             "retry_after": "1", "times": 2}]}
`fail` entries answer with `status` (and Retry-After when given) `times` times, counted
per server run by the entry's content (an identical entry written again is used up).

--token-file: every request must carry `Authorization: Bearer <file content>`; the file
is re-read per request, so a test can rotate the token. --tls-cert/--tls-key serve
HTTPS; --client-ca additionally requires a client certificate signed by that CA.
--request-log appends "METHOD PATH STATUS" per request.
"""
import argparse
import json
import os
import sqlite3
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
FAIL_COUNTS = {}
LOCK = threading.Lock()
# Status upserts are serialised, as a back end's connection pool would: SQLite
# allows one writer, and threads racing for its lock spin in the busy handler
# (tens of ms each), which made the server, not the client, the bottleneck.
WRITE_LOCK = threading.Lock()
LOCAL = threading.local()


def load_faults():
    if not ARGS.faults or not os.path.exists(ARGS.faults):
        return {}
    try:
        with open(ARGS.faults, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def expected_token():
    if not ARGS.token_file:
        return None
    with open(ARGS.token_file, encoding="utf-8") as f:
        return f.read().strip()


def connect():
    db = sqlite3.connect(ARGS.db, timeout=5)
    db.row_factory = sqlite3.Row
    return db


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, fmt, *args):  # quiet; --request-log records requests
        pass

    def record(self, status):
        if ARGS.request_log:
            with LOCK, open(ARGS.request_log, "a", encoding="utf-8") as f:
                f.write(f"{self.command} {self.path} {status}\n")

    def reply(self, status, body=b"", content_type="application/json", headers=None):
        self.record(status)  # before answering, so a client that has the answer sees the line
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def reply_json(self, status, obj, headers=None):
        self.reply(status, json.dumps(obj).encode("utf-8"), headers=headers)

    def pre(self, faults):
        """Token, injected failures and delays. Returns True when already answered."""
        delay = faults.get("delay_ms", 0)
        if delay:
            time.sleep(delay / 1000.0)
        token = expected_token()
        if token is not None and self.headers.get("Authorization", "") != "Bearer " + token:
            self.reply_json(401, {"error": "unauthorized"}, {"WWW-Authenticate": "Bearer"})
            return True
        path = urllib.parse.urlsplit(self.path).path
        for rule in faults.get("fail", []):
            if rule.get("method", self.command) != self.command:
                continue
            if not path.startswith(rule.get("prefix", "/")):
                continue
            key = json.dumps(rule, sort_keys=True)
            with LOCK:
                used = FAIL_COUNTS.get(key, 0)
                if used >= rule.get("times", 1):
                    continue
                FAIL_COUNTS[key] = used + 1
            headers = {}
            if "retry_after" in rule:
                headers["Retry-After"] = str(rule["retry_after"])
            self.reply_json(rule.get("status", 503), {"error": "injected"}, headers)
            return True
        return False

    def read_body(self):
        n = int(self.headers.get("Content-Length", "0") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def do_GET(self):
        faults = load_faults()
        if self.pre(faults):
            return
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/v1/submissions":
            return self.list_submissions(url, faults)
        if url.path.startswith("/v1/attachments/"):
            return self.attachment(urllib.parse.unquote(url.path[len("/v1/attachments/"):]), faults)
        self.reply_json(404, {"error": "not found"})

    def do_PUT(self):
        body = self.read_body()
        faults = load_faults()
        if self.pre(faults):
            return
        parts = urllib.parse.urlsplit(self.path).path.split("/")
        # ['', 'v1', 'submissions', '{id}', 'status']
        if len(parts) != 5 or parts[1:3] != ["v1", "submissions"] or parts[4] != "status":
            return self.reply_json(404, {"error": "not found"})
        sid = urllib.parse.unquote(parts[3])
        try:
            doc = json.loads(body)
            state = doc["state"]
        except (ValueError, KeyError, TypeError):
            return self.reply_json(400, {"error": "bad body"})
        # One connection per server thread (a kept-alive client keeps its thread).
        db = getattr(LOCAL, "db", None)
        if db is None:
            db = LOCAL.db = connect()
        with WRITE_LOCK:
            db.execute(
                "INSERT INTO submission_status (submission_id, state, reference, message, updated_at)"
                " VALUES (?, ?, ?, ?, strftime('%Y-%m-%dT%H:%M:%SZ','now'))"
                " ON CONFLICT (submission_id) DO UPDATE SET state = excluded.state,"
                " reference = excluded.reference, message = excluded.message,"
                " updated_at = excluded.updated_at",
                (sid, state, doc.get("reference"), doc.get("message")))
            db.commit()
        self.reply(204)

    def list_submissions(self, url, faults):
        q = urllib.parse.parse_qs(url.query)
        try:
            after = int(q.get("after", ["0"])[0])
            limit = int(q.get("limit", ["100"])[0])
        except ValueError:
            return self.reply_json(400, {"error": "bad after/limit"})
        limit = max(1, min(limit, int(faults.get("max_limit", 1000))))
        hidden = set(faults.get("hide_seqs", []))
        db = connect()
        try:
            items = []
            cur = db.execute("SELECT seq, id, version, received_at, payload FROM submissions"
                             " WHERE seq > ? ORDER BY seq", (after,))
            for row in cur:
                if row["seq"] in hidden:
                    continue
                try:
                    payload = json.loads(row["payload"])
                except ValueError:
                    payload = row["payload"]  # malformed rows go out as a JSON string
                items.append({"seq": row["seq"], "id": row["id"], "version": row["version"],
                              "received_at": row["received_at"], "payload": payload})
                if len(items) >= limit:
                    break
        finally:
            db.close()
        next_after = items[-1]["seq"] if items else after
        if faults.get("reverse_items"):
            items.reverse()
        self.reply_json(200, {"items": items, "next_after": next_after})

    def attachment(self, attachment_id, faults):
        db = connect()
        found = None
        try:
            for (payload,) in db.execute("SELECT payload FROM submissions"):
                try:
                    doc = json.loads(payload)
                except ValueError:
                    continue
                for a in (doc.get("attachments") or []) if isinstance(doc, dict) else []:
                    if isinstance(a, dict) and a.get("id") == attachment_id:
                        found = a
        finally:
            db.close()
        if not found:
            return self.reply_json(404, {"error": "no such attachment"})
        path = os.path.join(ARGS.media_root, found.get("path", ""))
        if not os.path.isfile(path):
            return self.reply_json(404, {"error": "attachment file missing"})
        size = os.path.getsize(path)
        self.record(200)
        self.send_response(200)
        self.send_header("Content-Type", found.get("media_type", "application/octet-stream"))
        self.send_header("Content-Length", str(size))
        self.end_headers()
        stall = faults.get("body_stall_ms", 0)
        try:
            with open(path, "rb") as f:
                first = True
                while True:
                    chunk = f.read(64 * 1024)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    if first and stall:
                        self.wfile.flush()
                        time.sleep(stall / 1000.0)
                    first = False
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--db", required=True)
    p.add_argument("--media-root", default="")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--token-file")
    p.add_argument("--faults")
    p.add_argument("--request-log")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--client-ca")
    ARGS = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", ARGS.port), Handler)
    server.daemon_threads = True
    if ARGS.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(ARGS.tls_cert, ARGS.tls_key)
        if ARGS.client_ca:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(ARGS.client_ca)
        server.socket = ctx.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
