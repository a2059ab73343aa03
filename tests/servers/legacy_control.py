#!/usr/bin/python3
"""What every legacy test server shares, whatever SOAP stack answers the calls: the
records store, the control plane (drop / slow-then-commit / fail injections, chaos),
WS-Security UsernameToken checking, HTTP basic auth and the /dump, /health and
/control endpoints.

Used by legacy_rms_server.py (WSDL-file driven, lxml) and spyne_legacy_server.py
(spyne applications); tests/servers/README.md describes the control plane.
"""
import base64
import datetime
import hashlib
import json
import random
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wsdl_contract as wc  # noqa: E402
from wsdl_contract import SoapFault  # noqa: E402

WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST = ("http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
          "#PasswordDigest")
TEXT = ("http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
        "#PasswordText")
XSI = wc.XSI


def now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def iso(t):
    return t.isoformat().replace("+00:00", "Z")


# The namespace of the detail of a refused duplicate (Store.unique_external).
DUPLICATE_NS = "urn:reportbridge:test:legacy-faults"


def E(tag, text=None, children=(), **attrib):
    el = etree.Element(tag)
    for k, v in attrib.items():
        el.set(k, str(v))
    if text is not None:
        el.text = str(text)
    for c in children:
        if c is not None:
            el.append(c)
    return el


def xml(el):
    return etree.tostring(el, encoding="unicode")


# ---------------------------------------------------------------------- records
class Store:
    """The legacy system's records. `call` (for the /dump history) has .operation.name,
    .raw (request bytes), .headers (SOAP header elements), .version and .soap_action."""

    def __init__(self, ref_format):
        self.lock = threading.Lock()
        self.ref_format = ref_format
        self.reset()

    def reset(self):
        self.unique_external = False
        self.refused_duplicates = 0
        self.records = []
        self.by_ref = {}
        self.by_external = {}

    def _version(self, call, kind, external, record):
        return {"operation": call.operation.name, "kind": kind, "external_reference": external,
                "record": xml(record) if record is not None else None,
                "request": call.raw.decode("utf-8", "replace"),
                "headers": [xml(h) for h in call.headers],
                "soap_version": call.version, "soap_action": call.soap_action, "at": iso(now()),
                # Milliseconds, for a test that must show a timeline (a duplicate's two
                # creates: when each request was read, when it committed).
                "received_ms": getattr(call, "received_ms", None), "committed_ms": int(time.time() * 1000)}

    def create(self, call, external, record):
        """Always a new record, as a real legacy system does (a duplicate delivery shows);
        with `unique_external` set (control unique_external=1), a system that refuses a second
        record with the same external reference, checked when the record commits (after a
        slow call's wait): a Client fault, faultcode Client.DuplicateExternalReference, whose
        detail names the existing record (DUPLICATE_DETAIL/ExistingReference)."""
        if self.unique_external and external is not None and external in self.by_external:
            existing = self.by_external[external]
            self.refused_duplicates += 1
            raise SoapFault("Client", "a record with this external reference exists",
                            dotted="DuplicateExternalReference",
                            detail=[E("{%s}DuplicateExternalReference" % DUPLICATE_NS, children=[
                                E("{%s}ExistingReference" % DUPLICATE_NS, existing)])])
        ref = self.ref_format(len(self.records) + 1)
        rec = {"legacy_reference": ref, "external_reference": external, "created_at": iso(now()),
               "versions": [self._version(call, "create", external, record)]}
        self.records.append(rec)
        self.by_ref[ref] = rec
        if external is not None:
            self.by_external[external] = ref
        return rec

    def update(self, call, ref, external, record):
        rec = self.by_ref.get(ref)
        if rec is None:
            return None
        rec["versions"].append(self._version(call, "update", external, record))
        if external is not None:
            self.by_external[external] = ref
        return rec

    def find(self, external):
        ref = self.by_external.get(external)
        return self.by_ref.get(ref) if ref else None

    def dump(self):
        creates = {}
        repeated = {}
        for r in self.records:
            creates.setdefault(r["external_reference"], []).append(r["legacy_reference"])
            seen = {}
            for v in r["versions"]:
                seen[v["external_reference"]] = seen.get(v["external_reference"], 0) + 1
            twice = sorted(k for k, n in seen.items() if n > 1)
            if twice:
                repeated[r["legacy_reference"]] = twice
        return {"records": self.records,
                "duplicates": {k: v for k, v in creates.items() if len(v) > 1},
                "repeated_versions": repeated,
                "refused_duplicates": self.refused_duplicates}


# ---------------------------------------------------------------------- faults and modes
DEFAULT_CHAOS = {"http500": 0.05, "server_fault": 0.05, "drop": 0.05, "slow": 0.02}


class Control:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.drop = [0, None]          # count, ops (None = all)
        self.slow = [0, 3000, {"create", "update"}]
        self.fail = [0, "server_fault", None]
        self.chaos = None              # {"rates": {...}, "slow_ms": M, "ops": set|None, "seed": S}
        self.rng = None

    def describe(self):
        return {"drop_next": self.drop[0], "slow_next": self.slow[0], "slow_ms": self.slow[1],
                "fail_next": self.fail[0], "fail_kind": self.fail[1],
                "chaos": None if self.chaos is None else {
                    "seed": self.chaos["seed"], "rates": self.chaos["rates"], "slow_ms": self.chaos["slow_ms"],
                    "ops": sorted(self.chaos["ops"]) if self.chaos["ops"] else "all"}}

    def set_chaos(self, seed, rates=None, slow_ms=3000, ops=None):
        r = dict(DEFAULT_CHAOS if rates is None else {k: 0.0 for k in DEFAULT_CHAOS})
        r.update(rates or {})
        unknown = set(r) - set(DEFAULT_CHAOS)
        if unknown:
            raise ValueError("unknown chaos rate(s): %s" % ", ".join(sorted(unknown)))
        if sum(r.values()) > 1.0:
            raise ValueError("chaos rates add up to more than 1")
        self.chaos = {"seed": seed, "rates": r, "slow_ms": slow_ms, "ops": ops}
        self.rng = random.Random(seed)

    @staticmethod
    def matches(ops, op, kind):
        return ops is None or op in ops or kind in ops or "all" in ops

    def decide(self, op, kind):
        """What happens to this call: None | ('fail', kind) | ('drop',) | ('slow', ms)."""
        with self.lock:
            if self.fail[0] > 0 and self.matches(self.fail[2], op, kind):
                self.fail[0] -= 1
                return ("fail", self.fail[1])
            if self.drop[0] > 0 and self.matches(self.drop[1], op, kind):
                self.drop[0] -= 1
                return ("drop",)
            if self.slow[0] > 0 and self.matches(self.slow[2], op, kind):
                self.slow[0] -= 1
                return ("slow", self.slow[1])
            c = self.chaos
            if c is not None and self.matches(c["ops"], op, kind):
                x = self.rng.random()
                for name in ("http500", "server_fault", "drop", "slow"):
                    x -= c["rates"][name]
                    if x < 0:
                        if name == "drop":
                            return ("drop",)
                        if name == "slow":
                            return ("slow", c["slow_ms"])
                        return ("fail", name)
            return None


def parse_ops(text):
    if not text or text == "all":
        return None
    return set(x.strip() for x in text.split(",") if x.strip())


def parse_created(text):
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    when = datetime.datetime.fromisoformat(t)
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return when


class Security:
    def __init__(self, spec, kind):
        self.user, self.password = spec.split(":", 1)
        self.kind = kind
        self.nonces = set()
        self.lock = threading.Lock()

    def check(self, headers):
        """Raises the WS-Security fault for these SOAP header elements, or returns."""
        sec = [h for h in headers if h.tag == "{%s}Security" % WSSE]
        token = sec[0].find("{%s}UsernameToken" % WSSE) if sec else None
        if token is None:
            raise SoapFault("Client", "a wsse:Security header with a UsernameToken is required",
                            subcode=(WSSE, "InvalidSecurity"))
        failed = SoapFault("Client", "The security token could not be authenticated or authorized",
                           subcode=(WSSE, "FailedAuthentication"))
        pw = token.find("{%s}Password" % WSSE)
        if token.findtext("{%s}Username" % WSSE) != self.user or pw is None:
            raise failed
        ptype = pw.get("Type", TEXT)
        if ptype not in (TEXT, DIGEST) or (self.kind == "text" and ptype != TEXT) or \
                (self.kind == "digest" and ptype != DIGEST):
            raise SoapFault("Client", "password type %s is not accepted here" % ptype,
                            subcode=(WSSE, "UnsupportedSecurityToken"))
        if ptype == TEXT:
            if pw.text != self.password:
                raise failed
            return
        nonce = token.findtext("{%s}Nonce" % WSSE) or ""
        created = token.findtext("{%s}Created" % WSU) or ""
        try:
            when = parse_created(created)
            raw_nonce = base64.b64decode(nonce, validate=True)
        except ValueError:
            raise failed
        if abs((now() - when).total_seconds()) > 300:
            raise failed
        expect = base64.b64encode(hashlib.sha1(raw_nonce + created.encode() + self.password.encode())
                                  .digest()).decode()
        if pw.text != expect:
            raise failed
        with self.lock:
            if nonce in self.nonces:  # a replayed token (WSS 1.0 UsernameToken profile, 3.1)
                raise failed
            self.nonces.add(nonce)


FAIL_KINDS = ("http500", "http503", "http401", "http403", "server_fault", "client_fault", "auth_fault",
              "drop_before")


# ---------------------------------------------------------------------- per-server state
class ControlState:
    """Records, counters, injections and security of one running legacy system.

    operations: every operation name (for `calls`); describe(): extra /dump fields."""

    def __init__(self, store, operations, options):
        self.store = store
        self.options = options
        self.control = Control()
        self.calls = {name: 0 for name in operations}
        self.outcomes = {}
        self.lock = threading.Lock()
        self.security = Security(options["wsse"], options.get("wsse_type", "any")) if options.get("wsse") else None
        # The load a fragile system sees: SOAP calls being handled at once (the
        # most ever), and when each started (Unix ms), for a fleet's caps.
        self.in_flight = 0
        self.max_in_flight = 0
        self.starts_ms = []

    def enter(self):
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.starts_ms.append(int(time.time() * 1000))

    def leave(self):
        with self.lock:
            self.in_flight -= 1

    def count(self, key, op=None):
        with self.lock:
            self.outcomes[key] = self.outcomes.get(key, 0) + 1
            if op is not None:
                self.calls[op] = self.calls.get(op, 0) + 1

    def reset(self):
        """Callers hold control.lock."""
        self.control.reset()
        with self.store.lock:
            self.store.reset()
        with self.lock:
            self.outcomes.clear()
            for k in self.calls:
                self.calls[k] = 0
            self.max_in_flight = self.in_flight
            self.starts_ms = []

    def describe(self):
        return {}

    def dump(self):
        with self.store.lock:
            data = self.store.dump()
        with self.lock:
            data.update(self.describe())
            data.update({"calls": dict(self.calls), "outcomes": dict(self.outcomes),
                         "max_in_flight": self.max_in_flight, "starts_ms": list(self.starts_ms)})
        with self.control.lock:
            data["control"] = self.control.describe()
        return data

    def apply_options(self):
        """--chaos / --rates / --slow-rate / --slow-ms / --chaos-ops from the command line."""
        opts = self.options
        slow_ms = int(opts.get("slow_ms", "3000"))
        ops = parse_ops(opts.get("chaos_ops"))
        if "chaos" in opts:
            rates = None
            if "rates" in opts:
                rates = {k: float(v) for k, v in (x.split("=", 1) for x in opts["rates"].split(","))}
            self.control.set_chaos(int(opts["chaos"]), rates, slow_ms, ops)
        elif "slow_rate" in opts:
            self.control.set_chaos(int(opts.get("seed", "1")), {"slow": float(opts["slow_rate"])}, slow_ms, ops)


# ---------------------------------------------------------------------- HTTP
class ControlPlaneHandler(BaseHTTPRequestHandler):
    """GET /dump, GET /health, POST /control, and the helpers a SOAP handler needs to
    answer injected failures; subclasses implement do_POST for their SOAP paths and
    may override get_other for other GETs. self.server.state is a ControlState."""
    protocol_version = "HTTP/1.1"
    server_version = "LegacyRms/1.0"

    def log_message(self, *args):
        pass

    @property
    def state(self):
        return self.server.state

    def reply(self, status, body, ctype, extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length", "0")))

    def json(self, data, status=200):
        self.reply(status, json.dumps(data, indent=1).encode(), "application/json")

    def do_GET(self):
        url = urlparse(self.path)
        if url.path == "/dump":
            self.json(self.state.dump())
        elif url.path == "/health":
            self.reply(200, b"ok", "text/plain")
        else:
            self.get_other(url)

    def get_other(self, url):
        self.reply(404, b"not found", "text/plain")

    def control(self, query):
        q = {k: v[-1] for k, v in parse_qs(query).items()}
        c = self.state.control
        try:
            with c.lock:
                if q.get("reset"):
                    self.state.reset()
                if "unique_external" in q:
                    store = getattr(getattr(self.state, "shape", None), "store", None) or getattr(self.state, "store")
                    store.unique_external = q["unique_external"] == "1"
                if "drop_next" in q:
                    c.drop = [int(q["drop_next"]), parse_ops(q.get("ops"))]
                if "slow_next" in q:
                    c.slow = [int(q["slow_next"]), int(q.get("ms", "3000")),
                              parse_ops(q.get("ops", "create,update"))]
                if "fail_next" in q:
                    kind = q.get("kind", "server_fault")
                    if kind not in FAIL_KINDS:
                        raise ValueError("kind must be one of %s" % ", ".join(FAIL_KINDS))
                    c.fail = [int(q["fail_next"]), kind, parse_ops(q.get("ops"))]
                if "chaos" in q:
                    if q["chaos"] == "off":
                        c.chaos = None
                    else:
                        rates = {k: float(q[k]) for k in DEFAULT_CHAOS if k in q}
                        c.set_chaos(int(q["chaos"]), rates or None, int(q.get("slow_ms", "3000")),
                                    parse_ops(q.get("ops")))
                desc = c.describe()
        except ValueError as e:
            self.json({"error": str(e)}, 400)
            return
        self.json(desc)

    def basic_ok(self):
        """True when no --basic is set or the Authorization header matches; else answers 401."""
        basic = self.state.options.get("basic")
        if not basic:
            return True
        expect = "Basic " + base64.b64encode(basic.encode()).decode()
        if self.headers.get("Authorization") == expect:
            return True
        self.state.count("http401")
        self.reply(401, b"unauthorised", "text/plain", [("WWW-Authenticate", 'Basic realm="legacy-rms"')])
        return False

    @staticmethod
    def header_elements(body, version):
        try:
            doc = etree.fromstring(body, wc.secure_parser())
        except etree.XMLSyntaxError:
            return []
        h = doc.find("{%s}Header" % wc.ENV_OF[version])
        return wc.elements(h) if h is not None else []

    def fault(self, version, f):
        status, data = wc.fault_bytes(version, f)
        self.reply(status, data, wc.content_type(version))

    def inject(self, version, kind):
        st = self.state
        st.count("injected_" + kind)
        if kind == "http500":
            self.reply(500, b"<html><body><h1>500 Internal Server Error</h1></body></html>", "text/html")
        elif kind == "http503":
            self.reply(503, b"Service Unavailable", "text/plain", [("Retry-After", "1")])
        elif kind == "http401":
            self.reply(401, b"unauthorised", "text/plain", [("WWW-Authenticate", 'Basic realm="legacy-rms"')])
        elif kind == "http403":
            self.reply(403, b"forbidden", "text/plain")
        elif kind == "server_fault":
            self.fault(version, SoapFault("Server", "records database unavailable, try again later"))
        elif kind == "client_fault":
            self.fault(version, SoapFault("Client", "request rejected by the records system"))
        elif kind == "auth_fault":
            self.fault(version, SoapFault("Client", "The security token could not be authenticated or authorized",
                                          subcode=(WSSE, "FailedAuthentication")))
        elif kind == "drop_before":
            self.close_connection = True


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def parse_options(argv, allowed, usage):
    """PORT then --key value pairs (dashes -> underscores) restricted to `allowed`."""
    if not argv or argv[0].startswith("-"):
        raise SystemExit(usage)
    port = int(argv[0])
    opts = {"wsse_type": "any"}
    it = iter(argv[1:])
    for a in it:
        try:
            v = next(it)
        except StopIteration:
            raise SystemExit("%s needs a value\n\n%s" % (a, usage))
        key = a.lstrip("-").replace("-", "_")
        if key not in allowed:
            raise SystemExit("unknown option %s\n\n%s" % (a, usage))
        opts[key] = v
    return port, opts
