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
  POST /control?unique_external=1        refuse a second record with the same external reference
                                        (checked at commit): Client.DuplicateExternalReference fault
                                        with the existing reference in its detail (0 or reset ends it)
  POST /control?slow_next=N&ms=M[&ops=K] the next N calls (default ops: create,update)
                                        wait M ms, THEN commit and answer
  POST /control?fail_next=N&kind=KIND[&ops=K]  the next N calls fail without committing;
        KIND: http500 http503 http401 http403 server_fault client_fault auth_fault drop_before
  POST /control?chaos=SEED[&http500=R&server_fault=R&drop=R&slow=R&slow_ms=M&ops=K]
  POST /control?chaos=off                 stop chaos
  POST /control?reset=1                   forget records, counters and injections
"""
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from lxml import etree

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wsdl_contract as wc  # noqa: E402
from wsdl_contract import SoapFault, HttpError  # noqa: E402
# the control plane, records and security every legacy test server shares
from legacy_control import (  # noqa: E402
    WSSE, XSI, ControlPlaneHandler, ControlState, E, Server, Store, iso, now, parse_options)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "wsdl"


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

# ---------------------------------------------------------------------- HTTP
class State(ControlState):
    def __init__(self, shape, options):
        super().__init__(shape.store, [op.name for p in shape.contract.ports for op in p.operations], options)
        self.shape = shape

    def describe(self):
        return {"shape": self.shape.name, "wsdl": str(self.shape.wsdl),
                "ports": [{"name": p.name, "soap_version": p.version, "path": p.path}
                          for p in self.shape.contract.ports]}


class Handler(ControlPlaneHandler):
    def do_POST(self):
        url = urlparse(self.path)
        body = self.read_body()
        received_ms = int(time.time() * 1000)
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
        if not self.basic_ok():
            return
        op = None
        try:
            if st.security is not None:
                st.security.check(self.header_elements(body, version))
            understood = {"{%s}Security" % WSSE} if st.security is not None else set()
            call = wc.parse_request(contract, port, self.headers, body, understood)
            call.received_ms = received_ms
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
        st.enter()
        try:
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
        finally:
            st.leave()


def parse_args(argv):
    port, opts = parse_options(argv, ("shape", "basic", "wsse", "wsse_type", "chaos", "rates", "slow_rate",
                                      "slow_ms", "seed", "chaos_ops", "system_id"), __doc__)
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
    state.apply_options()
    server = Server(("127.0.0.1", port), Handler)
    server.state = state
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
