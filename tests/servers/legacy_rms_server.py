#!/usr/bin/python3
"""Legacy records systems of different shapes, each serving exactly its own WSDL.

Usage: legacy_rms_server.py PORT --shape SHAPE [options]
PORT 0 picks a free port; the chosen port is printed on the first line of stdout.

Shapes (contracts under tests/fixtures/wsdl/; README.md beside this file has the details):
  wrapped        Caldmore Guardian RMS   wrapped/GuardianIntakeService.wsdl
  bare           Northmoor Occurrence Hub bare/OccurrenceHub.wsdl
  soap12-header  Vantage CaseConnect     soap12-header/CaseConnectIntake.wsdl
  rpc            Kestrel KPS gateway     rpc-literal/KestrelGateway.wsdl
  fbi-ngi        FBI CJIS NGI User Service  public/fbi-ngi/wsdl/ngi/user-services/NGIUserService.wsdl
                 (a public contract we did not write; served at /address, its placeholder)

Every request is checked against the WSDL (Content-Type, SOAPAction, envelope version,
body and header parts validated against the WSDL's schemas with lxml); a request
outside the contract gets a Client/Sender fault that says why. Answers are validated
against the output message before they are sent.

Options:
  --basic USER:PASSWORD      require HTTP basic auth (401 otherwise)
  --wsse USER:PASSWORD       require a WS-Security UsernameToken (wsse:InvalidSecurity
                             when missing, wsse:FailedAuthentication when wrong)
  --wsse-type any|text|digest  which password types are accepted (default any)
  --chaos SEED               randomised faults, default rates 5% HTTP 500, 5% Server
                             fault, 5% drop after commit, 2% slow (3000 ms) then commit
  --rates K=V,...            override chaos rates: http500, server_fault, drop, slow
  --slow-rate P              shorthand: chaos with only slow-then-commit at rate P
  --slow-ms M                the slow delay (default 3000)
  --seed S                   seed for --slow-rate (default 1)
  --chaos-ops KINDS          chaos applies to these (create,update,lookup or operation
                             names; default all)
  --system-id ID[,ID]        soap12-header: only these CallingSystem/SystemId values

Control plane (plain HTTP on the same port):
  GET  /dump      JSON: records (every version's request XML), calls per operation,
                  outcomes, duplicates, current control settings
  GET  /health    200 "ok"
  POST /control?drop_next=N[&ops=K]      the next N calls are carried out (committed),
                                        then the connection is closed without an answer
  POST /control?slow_next=N&ms=M[&ops=K] the next N calls (default ops: create,update)
                                        wait M ms, THEN commit and answer
  POST /control?fail_next=N&kind=KIND[&ops=K]  the next N calls fail without committing;
        KIND: http500 http503 http401 http403 server_fault client_fault auth_fault drop_before
  POST /control?chaos=SEED[&http500=R&server_fault=R&drop=R&slow=R&slow_ms=M&ops=K]
  POST /control?chaos=off                 stop chaos
  POST /control?reset=1                   forget records, counters and injections
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
from wsdl_contract import SoapFault, HttpError  # noqa: E402

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "wsdl"
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
    def __init__(self, ref_format):
        self.lock = threading.Lock()
        self.ref_format = ref_format
        self.reset()

    def reset(self):
        self.records = []
        self.by_ref = {}
        self.by_external = {}

    def _version(self, call, kind, external, record):
        return {"operation": call.operation.name, "kind": kind, "external_reference": external,
                "record": xml(record) if record is not None else None,
                "request": call.raw.decode("utf-8", "replace"),
                "headers": [xml(h) for h in call.headers],
                "soap_version": call.version, "soap_action": call.soap_action, "at": iso(now())}

    def create(self, call, external, record):
        """Always a new record, as a real legacy system does (a duplicate delivery shows)."""
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
                "repeated_versions": repeated}


# ---------------------------------------------------------------------- shapes
class Shape:
    """One legacy system: its WSDL, and what each operation does to the store."""
    name = None
    wsdl = None
    kinds = {}          # operation name -> create | update | lookup
    validate_output = True

    def decorate(self, fault):
        """The fault this system answers for a request the contract rejects."""
        return fault

    def __init__(self, options):
        self.options = options
        self.contract = wc.Contract(self.wsdl)
        self.store = Store(self.reference)

    def reference(self, n):
        raise NotImplementedError

    def handle(self, call):
        """Returns ({part: element}, {header part: element}) or raises SoapFault.
        Runs under the store lock: this is the commit."""
        return getattr(self, "op_" + call.operation.name)(call)


class Wrapped(Shape):
    name = "wrapped"
    wsdl = FIXTURES / "wrapped" / "GuardianIntakeService.wsdl"
    SVC = "http://schemas.caldmore.co.uk/guardian/rms/intake/2019/03"
    GCR = "http://schemas.caldmore.co.uk/guardian/records/community-report/2.1"
    kinds = {"SubmitCommunityReport": "create", "UpdateCommunityReport": "update",
             "FindByExternalReference": "lookup"}

    def reference(self, n):
        return "GRD/%02d/%06d" % (now().year % 100, n)

    def q(self, local):
        return "{%s}%s" % (self.SVC, local)

    def op_SubmitCommunityReport(self, call):
        record = call.body_parts["parameters"].find("{%s}CommunityReport" % self.GCR)
        external = record.findtext("ExternalReference")
        rec = self.store.create(call, external, record)
        return {"parameters": E(self.q("SubmitCommunityReportResponse"), children=[
            E(self.q("RmsReference"), rec["legacy_reference"]), E(self.q("ReceivedAt"), iso(now()))])}, {}

    def op_UpdateCommunityReport(self, call):
        w = call.body_parts["parameters"]
        ref = w.findtext(self.q("RmsReference"))
        record = w.find("{%s}CommunityReport" % self.GCR)
        rec = self.store.update(call, ref, record.findtext("ExternalReference"), record)
        if rec is None:
            raise SoapFault("Client", "no Guardian record %s" % ref, detail=[E(self.q("IntakeFault"), children=[
                E(self.q("Code"), "UNKNOWN_REFERENCE"), E(self.q("Message"), "no record %s" % ref)])])
        return {"parameters": E(self.q("UpdateCommunityReportResponse"), children=[
            E(self.q("RmsReference"), ref), E(self.q("VersionNumber"), len(rec["versions"]))])}, {}

    def op_FindByExternalReference(self, call):
        external = call.body_parts["parameters"].findtext(self.q("ExternalReference"))
        rec = self.store.find(external)
        if rec is None:
            ref = etree.Element(self.q("RmsReference"), nsmap={"xsi": XSI})
            ref.set("{%s}nil" % XSI, "true")
        else:
            ref = E(self.q("RmsReference"), rec["legacy_reference"])
        return {"parameters": E(self.q("FindByExternalReferenceResponse"), children=[ref])}, {}


class Bare(Shape):
    name = "bare"
    wsdl = FIXTURES / "bare" / "OccurrenceHub.wsdl"
    INC = "urn:northmoor:occurrence-hub:incident:v3"
    CTX = "urn:northmoor:occurrence-hub:context:v1"
    kinds = {"LodgeIncident": "create", "AmendIncident": "update", "QueryIncident": "lookup"}

    def reference(self, n):
        return "OH-%04d-%06d" % (now().year, n)

    def receipt(self, rec):
        return E("{%s}IncidentReceipt" % self.INC, children=[
            E("{%s}RecordReference" % self.CTX, rec["legacy_reference"]),
            E("{%s}Revision" % self.INC, len(rec["versions"]))])

    def op_LodgeIncident(self, call):
        report = call.body_parts["report"]
        rec = self.store.create(call, report.get("externalId"), report)
        return {"receipt": self.receipt(rec)}, {}

    def op_AmendIncident(self, call):
        report = call.body_parts["report"]
        ref = call.header_parts["reference"].text
        rec = self.store.update(call, ref, report.get("externalId"), report)
        if rec is None:
            raise SoapFault("Client", "no hub record %s" % ref, detail=[E("{%s}HubError" % self.INC, children=[
                E("{%s}ErrorCode" % self.INC, 4004), E("{%s}ErrorText" % self.INC, "unknown record reference")])])
        return {"receipt": self.receipt(rec)}, {}

    def op_QueryIncident(self, call):
        rec = self.store.find(call.body_parts["query"].get("externalId"))
        result = E("{%s}IncidentQueryResult" % self.INC)
        if rec is not None:
            result.extend([E("{%s}RecordReference" % self.CTX, rec["legacy_reference"]),
                           E("{%s}Revision" % self.INC, len(rec["versions"])),
                           E("{%s}LastUpdated" % self.INC, rec["versions"][-1]["at"])])
        return {"result": result}, {}


class Soap12Header(Shape):
    name = "soap12-header"
    wsdl = FIXTURES / "soap12-header" / "CaseConnectIntake.wsdl"
    SVC = "http://vantage-justice.co.uk/caseconnect/services/intake/v1"
    HDR = "http://vantage-justice.co.uk/caseconnect/headers/v1"
    CCD = "http://vantage-justice.co.uk/caseconnect/data/v1"
    kinds = {"RecordOccurrence": "create", "ReviseOccurrence": "update", "LocateOccurrence": "lookup"}

    def reference(self, n):
        return "CC%02d/%06d" % (now().year % 100, n)

    def q(self, local):
        return "{%s}%s" % (self.SVC, local)

    def handle(self, call):
        allowed = self.options.get("system_id")
        system = call.header_parts["CallingSystem"].findtext("{%s}SystemId" % self.HDR)
        if allowed and system not in allowed:
            raise SoapFault("Client", "calling system %s is not registered with CaseConnect" % system,
                            subcode=(self.HDR, "UnknownCallingSystem"), dotted="UnknownCallingSystem")
        return super().handle(call)

    def not_found(self, reference, message):
        return SoapFault("Client", message, subcode=(self.SVC, "RecordNotFound"), dotted="RecordNotFound",
                         detail=[E(self.q("RecordNotFound"), children=[
                             E(self.q("Reference"), reference), E(self.q("Message"), message)])])

    def op_RecordOccurrence(self, call):
        w = call.body_parts["body"]
        rec = self.store.create(call, w.findtext(self.q("SourceReference")), w.find("{%s}Occurrence" % self.CCD))
        return {"body": E(self.q("RecordOccurrenceResponse"), children=[
            E(self.q("CaseReference"), rec["legacy_reference"])])}, {}

    def op_ReviseOccurrence(self, call):
        w = call.body_parts["body"]
        ref = w.findtext(self.q("CaseReference"))
        rec = self.store.update(call, ref, w.findtext(self.q("SourceReference")), w.find("{%s}Occurrence" % self.CCD))
        if rec is None:
            raise self.not_found(ref, "no case %s" % ref)
        return {"body": E(self.q("ReviseOccurrenceResponse"), children=[
            E(self.q("CaseReference"), ref), E(self.q("Revision"), len(rec["versions"]))])}, {}

    def op_LocateOccurrence(self, call):
        source = call.body_parts["body"].findtext(self.q("SourceReference"))
        rec = self.store.find(source)
        if rec is None:
            raise self.not_found(source, "no case was recorded with this source reference")
        return {"body": E(self.q("LocateOccurrenceResponse"), children=[
            E(self.q("CaseReference"), rec["legacy_reference"]), E(self.q("Revision"), len(rec["versions"])),
            E(self.q("Status"), "OPEN")])}, {}


class Rpc(Shape):
    name = "rpc"
    wsdl = FIXTURES / "rpc-literal" / "KestrelGateway.wsdl"
    kinds = {"createLog": "create", "amendLog": "update", "findLog": "lookup"}

    def reference(self, n):
        return "KPS%02d%07d" % (now().year % 100, n)

    def op_createLog(self, call):
        p = call.body_parts
        rec = self.store.create(call, p["sourceId"].text, p["entry"])
        return {"logNumber": E("logNumber", rec["legacy_reference"])}, {}

    def op_amendLog(self, call):
        p = call.body_parts
        ref = p["logNumber"].text
        rec = self.store.update(call, ref, p["sourceId"].text, p["entry"])
        if rec is None:
            raise SoapFault("Client", "KPS-404 log %s does not exist" % ref)
        return {"logNumber": E("logNumber", ref), "revision": E("revision", len(rec["versions"]))}, {}

    def op_findLog(self, call):
        rec = self.store.find(call.body_parts["sourceId"].text)
        matches = E("matches")
        if rec is not None:
            matches.append(E("match", children=[E("logNumber", rec["legacy_reference"]),
                                                E("revision", len(rec["versions"])), E("status", "OPEN")]))
        return {"matches": matches}, {}


class FbiNgi(Shape):
    """The FBI CJIS NGI User Service (public contract, unmodified): document/literal bare,
    the whole EBTS 10.0 / NIEM 2.0 package as the body, NGIControlNumber back."""
    name = "fbi-ngi"
    wsdl = FIXTURES / "public" / "fbi-ngi" / "wsdl" / "ngi" / "user-services" / "NGIUserService.wsdl"
    NGI = "http://ws.cjis.gov/2014/08/01/ngi/core/xsd"
    ANSI = "http://niem.gov/niem/biometrics/1.0"
    NC = "http://niem.gov/niem/niem-core/2.0"
    kinds = {"submitRequest": "create"}
    # The contract's NGIControlNumberType pattern is written as a Perl regex
    # ("^[A-Z]...366\\d{12}$"); in XSD ^, $ and \\ are literal, so no real control
    # number is valid against it. The server answers real-looking numbers and does not
    # validate its answer (see README.md).
    validate_output = False

    def reference(self, n):
        return "E%04d366%012d" % (2024, n)

    def decorate(self, fault):
        if fault.dotted == "SchemaValidationError":
            fault.detail = [E("{%s}NGIServicesFault" % self.NGI, children=[
                E("{%s}faultMessage" % self.NGI, fault.string),
                E("{%s}faultErrorCode" % self.NGI, "INVALID_REQUEST"),
                E("{%s}faultType" % self.NGI, "NGI_SERVICE_ERROR")])]
        return fault

    def op_submitRequest(self, call):
        pkg = call.body_parts["NISTBiometricInformation"]
        tcn = pkg.findtext(".//{%s}TransactionControlIdentification/{%s}IdentificationID" % (self.ANSI, self.NC))
        rec = self.store.create(call, tcn, pkg)
        return {"NCN": E("{%s}NGIControlNumber" % self.NGI, rec["legacy_reference"])}, {}


SHAPES = {s.name: s for s in (Wrapped, Bare, Soap12Header, Rpc, FbiNgi)}


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


# ---------------------------------------------------------------------- HTTP
class State:
    def __init__(self, shape, options):
        self.shape = shape
        self.options = options
        self.control = Control()
        self.calls = {op.name: 0 for p in shape.contract.ports for op in p.operations}
        self.outcomes = {}
        self.lock = threading.Lock()
        self.security = Security(options["wsse"], options.get("wsse_type", "any")) if options.get("wsse") else None

    def count(self, key, op=None):
        with self.lock:
            self.outcomes[key] = self.outcomes.get(key, 0) + 1
            if op is not None:
                self.calls[op] = self.calls.get(op, 0) + 1

    def dump(self):
        with self.shape.store.lock:
            data = self.shape.store.dump()
        with self.lock:
            data.update({"shape": self.shape.name, "wsdl": str(self.shape.wsdl),
                         "calls": dict(self.calls), "outcomes": dict(self.outcomes),
                         "ports": [{"name": p.name, "soap_version": p.version, "path": p.path}
                                   for p in self.shape.contract.ports]})
        with self.control.lock:
            data["control"] = self.control.describe()
        return data


class Handler(BaseHTTPRequestHandler):
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
        path = urlparse(self.path).path
        if path == "/dump":
            self.json(self.state.dump())
        elif path == "/health":
            self.reply(200, b"ok", "text/plain")
        else:
            self.reply(404, b"not found", "text/plain")

    def control(self, query):
        q = {k: v[-1] for k, v in parse_qs(query).items()}
        c = self.state.control
        try:
            with c.lock:
                if q.get("reset"):
                    c.reset()
                    with self.state.shape.store.lock:
                        self.state.shape.store.reset()
                    with self.state.lock:
                        self.state.outcomes.clear()
                        for k in self.state.calls:
                            self.state.calls[k] = 0
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

    def do_POST(self):
        url = urlparse(self.path)
        body = self.read_body()
        if url.path == "/control":
            self.control(url.query)
            return
        st = self.state
        contract = st.shape.contract
        version = wc.default_env_version(self.headers)
        port = contract.port_for(url.path, version)
        if port is None:
            self.reply(404, ("no SOAP endpoint at %s; this contract serves %s" % (
                url.path, ", ".join(p.path for p in contract.ports))).encode(), "text/plain")
            return
        version = port.version
        if st.options.get("basic"):
            expect = "Basic " + base64.b64encode(st.options["basic"].encode()).decode()
            if self.headers.get("Authorization") != expect:
                st.count("http401")
                self.reply(401, b"unauthorised", "text/plain", [("WWW-Authenticate", 'Basic realm="legacy-rms"')])
                return
        op = None
        try:
            if st.security is not None:
                st.security.check(self.header_elements(body, version))
            understood = {"{%s}Security" % WSSE} if st.security is not None else set()
            call = wc.parse_request(contract, port, self.headers, body, understood)
            op = call.operation.name
        except HttpError as e:
            st.count("http%d" % e.status)
            self.reply(e.status, e.text.encode(), "text/plain", e.headers)
            return
        except SoapFault as f:
            if f.operation:
                st.count("received", f.operation)
            st.count("auth_failed" if f.subcode and f.subcode[0] == WSSE else "client_fault")
            self.fault(version, st.shape.decorate(f))
            return
        kind = st.shape.kinds.get(op, "other")
        st.count("received", op)
        action = st.control.decide(op, kind)
        if action and action[0] == "fail":
            self.inject(version, action[1])
            return
        if action and action[0] == "slow":
            st.count("slow")
            time.sleep(action[1] / 1000.0)
        try:
            with st.shape.store.lock:
                parts, headers = st.shape.handle(call)
            data = wc.render_response(call, parts, headers, validate=st.shape.validate_output)
        except SoapFault as f:
            st.count("client_fault" if f.code in ("Client", "Sender") else "server_fault")
            if action and action[0] == "drop":
                st.count("dropped")
                self.close_connection = True
                return
            self.fault(version, f)
            return
        except AssertionError as e:
            print("BUG: %s" % e, file=sys.stderr, flush=True)
            st.count("server_bug")
            self.reply(500, ("test server bug: %s" % e).encode(), "text/plain")
            return
        if action and action[0] == "drop":
            st.count("dropped")
            self.close_connection = True
            return
        st.count("ok")
        if data is None:  # one-way operation
            self.reply(202, b"", wc.content_type(version))
        else:
            self.reply(200, data, wc.content_type(version))

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


FAIL_KINDS = ("http500", "http503", "http401", "http403", "server_fault", "client_fault", "auth_fault",
              "drop_before")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


def parse_args(argv):
    if not argv or argv[0].startswith("-"):
        raise SystemExit(__doc__)
    port = int(argv[0])
    opts = {"wsse_type": "any"}
    it = iter(argv[1:])
    for a in it:
        try:
            v = next(it)
        except StopIteration:
            raise SystemExit("%s needs a value\n\n%s" % (a, __doc__))
        key = a.lstrip("-").replace("-", "_")
        if key not in ("shape", "basic", "wsse", "wsse_type", "chaos", "rates", "slow_rate", "slow_ms", "seed",
                       "chaos_ops", "system_id"):
            raise SystemExit("unknown option %s\n\n%s" % (a, __doc__))
        opts[key] = v
    if "shape" not in opts or opts["shape"] not in SHAPES:
        raise SystemExit("--shape must be one of: %s" % ", ".join(sorted(SHAPES)))
    if "system_id" in opts:
        opts["system_id"] = set(opts["system_id"].split(","))
    return port, opts


def main():
    port, opts = parse_args(sys.argv[1:])
    try:
        shape = SHAPES[opts["shape"]](opts)
    except wc.ContractError as e:
        raise SystemExit("contract error: %s" % e)
    state = State(shape, opts)
    slow_ms = int(opts.get("slow_ms", "3000"))
    ops = parse_ops(opts.get("chaos_ops"))
    if "chaos" in opts:
        rates = None
        if "rates" in opts:
            rates = {k: float(v) for k, v in (x.split("=", 1) for x in opts["rates"].split(","))}
        state.control.set_chaos(int(opts["chaos"]), rates, slow_ms, ops)
    elif "slow_rate" in opts:
        state.control.set_chaos(int(opts.get("seed", "1")), {"slow": float(opts["slow_rate"])}, slow_ms, ops)
    server = Server(("127.0.0.1", port), Handler)
    server.state = state
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
