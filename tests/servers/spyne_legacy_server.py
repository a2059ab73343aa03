#!/usr/bin/python3
"""Legacy records systems served by spyne (Debian python3-spyne): the contract is the
WSDL spyne generates from these classes, not one we wrote by hand.

Usage: spyne_legacy_server.py PORT --shape SHAPE [options]
       spyne_legacy_server.py --write-wsdl DIR [--shape SHAPE]
PORT 0 picks a free port; the chosen port is printed on the first line of stdout.

Shapes (committed contracts under tests/fixtures/wsdl/spyne/<shape>/; README.md beside
this file has the details):
  spyne-wrapped  Ravenscar RMS incident intake        IncidentIntake.wsdl   (SOAP 1.1)
                 document/literal wrapped; the external reference inside the record
  spyne-bare     Holderness OccurrenceManager          OccurrenceService.wsdl (SOAP 1.1)
                 document/literal bare (the body element is the record itself)
  spyne-header   Marston CaseLink intake               CaseLinkIntake.wsdl (SOAP 1.1) and
                 CaseLinkIntake.soap12.wsdl (SOAP 1.2); required CallingSystem SOAP header,
                 lookup "not found" is the declared fault Client.RecordNotFound

At start-up the server regenerates each WSDL with spyne and compares it with the committed
file (the endpoint address is a fixed placeholder in both); when they differ it prints the
diff and exits with status 3 before printing a port, so a spyne upgrade that changes the
contract is a clear failure. --write-wsdl DIR regenerates the files (DIR/<shape>/<file>).

Requests are validated by spyne itself (Soap11/Soap12(validator='lxml'): the body against
spyne's own schema; a wrongly shaped request gets Client.SchemaValidationError). Answers
are checked against the same schema before they are sent (a violation prints BUG:).

Options (as legacy_rms_server.py, same control plane and /dump shape):
  --basic USER:PASSWORD      require HTTP basic auth (401 otherwise)
  --wsse USER:PASSWORD       require a WS-Security UsernameToken, text or digest
                             (wsse:InvalidSecurity when missing, wsse:FailedAuthentication
                             when wrong; spyne has no WS-Security, so this runs before it)
  --wsse-type any|text|digest  which password types are accepted (default any)
  --chaos SEED, --rates K=V,..., --slow-rate P, --slow-ms M, --seed S, --chaos-ops KINDS
  --system-id ID[,ID]        spyne-header: only these CallingSystem/SystemId values
  --wsdl-dir DIR             compare with DIR/<shape>/<file> instead of the committed files

Control plane (plain HTTP on the same port):
  GET  /dump, GET /health, GET <endpoint>?wsdl (spyne's own WSDL with the real address)
  POST /control?drop_next=N | slow_next=N&ms=M | fail_next=N&kind=KIND | chaos=SEED | reset=1
"""
import difflib
import io
import logging
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse

from lxml import etree
from spyne import (Application, Array, ComplexModel, Date, DateTime, Decimal, Fault, Integer,
                   ServiceBase, Unicode, XmlAttribute, rpc)
from spyne.interface.wsdl import Wsdl11
from spyne.protocol.soap import Soap11, Soap12
from spyne.protocol.xml import SchemaValidationError
from spyne.server.wsgi import WsgiApplication

sys.path.insert(0, str(Path(__file__).resolve().parent))
import wsdl_contract as wc  # noqa: E402
from wsdl_contract import SoapFault  # noqa: E402
from legacy_control import (  # noqa: E402
    ControlPlaneHandler, ControlState, Server, Store, now, parse_options)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "wsdl" / "spyne"
# the endpoint address written into the committed WSDL files (tests always set `url`)
PLACEHOLDER = "http://legacy-rms.example.invalid"
POSTCODE = "[A-Z]{1,2}[0-9][0-9A-Z]? ?[0-9][A-Z]{2}"


class BugLog(logging.Handler):
    """spyne logs an unexpected exception in a service method (a bug here, never the
    client's) at CRITICAL on spyne.application.server; the self-test watches for BUG:."""

    def emit(self, record):
        print("BUG: spyne: %s" % self.format(record), file=sys.stderr, flush=True)


logging.getLogger("spyne").addHandler(logging.NullHandler())
logging.getLogger("spyne").propagate = False
logging.getLogger("spyne.application.server").addHandler(BugLog(logging.CRITICAL))


class Soap12(Soap12):
    """spyne's Soap12 with one crash fixed. Stock spyne 2.14 renders a schema validation
    fault with E("{soap12env}Reason", <bytes>) (a prefix used as a namespace, and bytes
    lxml refuses): every SOAP 1.2 request that fails validation raises inside spyne and
    the client gets no answer at all. Here that fault is rendered the way spyne renders
    every other fault (Code Sender, Subcode SchemaValidationError, Reason/Text)."""

    def schema_validation_error_to_parent(self, ctx, cls, inst, parent, ns, **_):
        if isinstance(inst.faultstring, bytes):
            inst.faultstring = inst.faultstring.decode("ascii", "replace")
        return self.fault_to_parent(ctx, cls, inst, parent, ns)


def current(ctx):
    """The call being served: state (records, control), raw request, SOAP version."""
    return ctx.transport.req_env["legacy.call"]


def commit(ctx, fn, *args):
    call = current(ctx)
    with call.state.store.lock:
        return fn(call, *args)


def body_child(ctx, ns, local):
    return ctx.in_body_doc.find("{%s}%s" % (ns, local))


# ====================================================================== a. spyne-wrapped
# Ravenscar RMS: document/literal wrapped (spyne's default); the record is one child of
# the wrapper, its ExternalReference inside it; the service wrapper and the record live in
# two namespaces.
RV_SVC = "http://schemas.ravenscar-rms.co.uk/services/intake/2021/06"
RV_REC = "http://schemas.ravenscar-rms.co.uk/records/incident/3.0"


class RvAddress(ComplexModel):
    __namespace__ = RV_REC
    __type_name__ = "Address"
    _type_info = [
        ("BuildingName", Unicode(max_len=100)),
        ("BuildingNumber", Unicode(max_len=10)),
        ("Street", Unicode(max_len=100)),
        ("Locality", Unicode(max_len=60)),
        ("Town", Unicode(min_occurs=1, max_len=60)),
        ("Postcode", Unicode(pattern=POSTCODE)),
    ]


class RvGridReference(ComplexModel):
    __namespace__ = RV_REC
    __type_name__ = "GridReference"
    _type_info = [
        ("Easting", Integer(min_occurs=1, ge=0, le=700000)),
        ("Northing", Integer(min_occurs=1, ge=0, le=1300000)),
    ]


class RvLocation(ComplexModel):
    __namespace__ = RV_REC
    __type_name__ = "Location"
    _type_info = [
        ("Address", RvAddress.customize(min_occurs=1)),
        ("GridReference", RvGridReference),
        ("Description", Unicode(max_len=500)),
    ]


class RvPerson(ComplexModel):
    __namespace__ = RV_REC
    __type_name__ = "Person"
    _type_info = [
        ("Forename", Unicode(max_len=50)),
        ("Surname", Unicode(min_occurs=1, max_len=50)),
        ("DateOfBirth", Date),
        ("Telephone", Unicode(max_len=20)),
        ("Email", Unicode(max_len=254)),
        ("contactConsent", XmlAttribute(Unicode(values=["YES", "NO"]))),
    ]


class RvWitness(ComplexModel):
    __namespace__ = RV_REC
    __type_name__ = "Witness"
    _type_info = [
        ("Name", Unicode(min_occurs=1, max_len=100)),
        ("Telephone", Unicode(max_len=20)),
        ("Statement", Unicode(max_len=4000)),
        ("witnessType", XmlAttribute(Unicode(values=["EYEWITNESS", "VICTIM", "OTHER"]))),
    ]


class RvAttachment(ComplexModel):
    __namespace__ = RV_REC
    __type_name__ = "Attachment"
    _type_info = [
        ("FileName", Unicode(min_occurs=1, max_len=255)),
        ("MediaType", Unicode(min_occurs=1, pattern="[a-z]+/[A-Za-z0-9.+-]+")),
        ("SizeBytes", Integer(min_occurs=1, ge=0)),
        ("Sha256", Unicode(pattern="[0-9a-f]{64}")),
        ("sequence", XmlAttribute(Integer(ge=1), use="required")),
    ]


class RvIncidentReport(ComplexModel):
    __namespace__ = RV_REC
    __type_name__ = "IncidentReport"
    _type_info = [
        ("ExternalReference", Unicode(min_occurs=1, nillable=False, min_len=1, max_len=64)),
        ("SourceSystem", Unicode(min_occurs=1, values=["PUBLIC_APP", "WEB_FORM", "CONTACT_CENTRE"])),
        ("IncidentType", Unicode(min_occurs=1, values=["ASB", "CRIME", "RTC", "CONCERN_FOR_WELFARE",
                                                       "LOST_PROPERTY"])),
        ("ReportedAt", DateTime(min_occurs=1)),
        ("OccurredFrom", DateTime),
        ("OccurredTo", DateTime),
        ("Narrative", Unicode(min_occurs=1, max_len=4000)),
        ("Location", RvLocation.customize(min_occurs=1)),
        ("Reporter", RvPerson),
        ("Witnesses", Array(RvWitness)),
        ("Attachments", Array(RvAttachment)),
        ("channel", XmlAttribute(Unicode(values=["APP", "WEB"]))),
    ]


RV_NUMBER = Unicode(min_occurs=1, nillable=False, pattern="RV-[0-9]{4}-[0-9]{6}")


class IncidentIntakeService(ServiceBase):
    @rpc(RvIncidentReport.customize(min_occurs=1, nillable=False),
         _returns=(Unicode(min_occurs=1), DateTime(min_occurs=1)),
         _out_variable_names=("IncidentNumber", "ReceivedAt"))
    def SubmitIncident(ctx, IncidentReport):
        rec = commit(ctx, lambda call: call.state.store.create(
            call, IncidentReport.ExternalReference, body_child(ctx, RV_SVC, "IncidentReport")))
        return rec["legacy_reference"], now()

    @rpc(RV_NUMBER, RvIncidentReport.customize(min_occurs=1, nillable=False),
         _returns=(Unicode(min_occurs=1), Integer(min_occurs=1)),
         _out_variable_names=("IncidentNumber", "Revision"))
    def AmendIncident(ctx, IncidentNumber, IncidentReport):
        rec = commit(ctx, lambda call: call.state.store.update(
            call, IncidentNumber, IncidentReport.ExternalReference, body_child(ctx, RV_SVC, "IncidentReport")))
        if rec is None:
            raise Fault("Client.IncidentNotFound", "no incident %s in Ravenscar RMS" % IncidentNumber)
        return IncidentNumber, len(rec["versions"])

    @rpc(Unicode(min_occurs=1, nillable=False, min_len=1, max_len=64),
         _returns=Unicode(min_occurs=1), _out_variable_name="IncidentNumber")
    def FindIncidentByExternalReference(ctx, ExternalReference):
        rec = commit(ctx, lambda call: call.state.store.find(ExternalReference))
        return rec["legacy_reference"] if rec else None  # None -> <IncidentNumber xsi:nil="true"/>


# ====================================================================== b. spyne-bare
# Holderness OccurrenceManager: document/literal bare. spyne names each body element
# after its operation and types it with the record, so the body IS the record:
# <svc:RegisterOccurrence sourceReference=".."> with the record's children. The legacy
# reference of an update is an attribute of the same record; the lookup's body is a
# simple-typed element holding the source reference.
HO_SVC = "http://holderness-systems.co.uk/occurrence-manager/soap/2.4"
HO_REC = "http://holderness-systems.co.uk/occurrence-manager/records/2.4"


class HoPlace(ComplexModel):
    __namespace__ = HO_REC
    __type_name__ = "Place"
    _type_info = [
        ("AddressLine", Unicode(min_occurs=1, max_occurs=4, max_len=80)),
        ("Postcode", Unicode(pattern=POSTCODE)),
        ("Latitude", Decimal(ge=-90, le=90, fraction_digits=6)),
        ("Longitude", Decimal(ge=-180, le=180, fraction_digits=6)),
    ]


class HoPerson(ComplexModel):
    __namespace__ = HO_REC
    __type_name__ = "Person"
    _type_info = [
        ("GivenName", Unicode(max_len=50)),
        ("FamilyName", Unicode(min_occurs=1, max_len=50)),
        ("Phone", Unicode(max_occurs=3, max_len=20)),
        ("role", XmlAttribute(Unicode(values=["REPORTER", "WITNESS", "VICTIM", "SUSPECT"]), use="required")),
    ]


class HoMedia(ComplexModel):
    __namespace__ = HO_REC
    __type_name__ = "MediaItem"
    _type_info = [
        ("Caption", Unicode(max_len=200)),
        ("fileName", XmlAttribute(Unicode(min_len=1, max_len=255), use="required")),
        ("mediaType", XmlAttribute(Unicode, use="required")),
        ("sizeBytes", XmlAttribute(Integer(ge=0))),
    ]


class HoOccurrence(ComplexModel):
    __namespace__ = HO_REC
    __type_name__ = "OccurrenceRecord"
    _type_info = [
        ("Category", Unicode(min_occurs=1, values=["ASB", "CRIME", "TRAFFIC", "WELFARE", "OTHER"])),
        ("Priority", Integer(ge=1, le=5)),
        ("Occurred", DateTime(min_occurs=1)),
        ("Summary", Unicode(min_occurs=1, max_len=2000)),
        ("Place", HoPlace.customize(min_occurs=1)),
        ("Person", HoPerson.customize(max_occurs="unbounded")),
        ("Media", HoMedia.customize(max_occurs="unbounded")),
        ("sourceReference", XmlAttribute(Unicode(min_len=1, max_len=64), use="required")),
        ("occurrenceNumber", XmlAttribute(Unicode(pattern="OM[0-9]{8}"))),
    ]


class HoReceipt(ComplexModel):
    __namespace__ = HO_REC
    __type_name__ = "OccurrenceReceipt"
    _type_info = [
        ("OccurrenceNumber", Unicode(min_occurs=1)),
        ("Revision", Integer(min_occurs=1)),
    ]


class HoMatch(ComplexModel):
    __namespace__ = HO_REC
    __type_name__ = "OccurrenceMatch"
    _type_info = [
        ("OccurrenceNumber", Unicode),
        ("Revision", Integer),
        ("Status", Unicode(values=["OPEN", "CLOSED"])),
    ]


HO_RECORD = HoOccurrence.customize(min_occurs=1, nillable=False)


class OccurrenceService(ServiceBase):
    @rpc(HO_RECORD, _body_style="bare", _returns=HoReceipt)
    def RegisterOccurrence(ctx, record):
        rec = commit(ctx, lambda call: call.state.store.create(call, record.sourceReference, ctx.in_body_doc))
        return HoReceipt(OccurrenceNumber=rec["legacy_reference"], Revision=1)

    @rpc(HO_RECORD, _body_style="bare", _returns=HoReceipt)
    def ReviseOccurrence(ctx, record):
        if not record.occurrenceNumber:
            raise Fault("Client.MissingOccurrenceNumber",
                        "ReviseOccurrence needs the occurrenceNumber attribute of the record")
        rec = commit(ctx, lambda call: call.state.store.update(
            call, record.occurrenceNumber, record.sourceReference, ctx.in_body_doc))
        if rec is None:
            raise Fault("Client.OccurrenceNotFound", "no occurrence %s" % record.occurrenceNumber)
        return HoReceipt(OccurrenceNumber=record.occurrenceNumber, Revision=len(rec["versions"]))

    @rpc(Unicode(min_occurs=1, nillable=False, min_len=1, max_len=64), _body_style="bare", _returns=HoMatch)
    def FindOccurrence(ctx, source_reference):
        rec = commit(ctx, lambda call: call.state.store.find(source_reference))
        if rec is None:
            return HoMatch()  # -> <svc:FindOccurrenceResponse/>
        return HoMatch(OccurrenceNumber=rec["legacy_reference"], Revision=len(rec["versions"]), Status="OPEN")


# ====================================================================== c. spyne-header
# Marston CaseLink: wrapped, a CallingSystem SOAP header required on every call, the
# source reference and the case number siblings of the record, "not found" a declared
# fault. SOAP 1.1 and SOAP 1.2 (one WSDL each: spyne writes one binding per application).
ML_SVC = "urn:marston:caselink:intake:5"
# spyne 2.14 writes <soap:header message="PREFIX:CallingSystem"> with the prefix of the
# header class's namespace, but declares the wsdl:message in the application's target
# namespace: a header class in any other namespace gives a WSDL whose header message does
# not resolve (zeep refuses it). So the header lives in the service namespace.
ML_HDR = ML_SVC
ML_CASE = "urn:marston:caselink:case:5"


class CallingSystem(ComplexModel):
    __namespace__ = ML_HDR
    _type_info = [
        ("SystemId", Unicode(min_occurs=1, nillable=False, pattern="[A-Z0-9_]{3,32}")),
        ("CorrelationId", Unicode(min_occurs=1, nillable=False, min_len=1, max_len=64)),
        ("SentAt", DateTime),
    ]


class MlAddress(ComplexModel):
    __namespace__ = ML_CASE
    __type_name__ = "Address"
    _type_info = [
        ("Line", Unicode(min_occurs=1, max_occurs=3, max_len=80)),
        ("Town", Unicode(max_len=60)),
        ("Postcode", Unicode(pattern=POSTCODE)),
    ]


class MlSubject(ComplexModel):
    __namespace__ = ML_CASE
    __type_name__ = "Subject"
    _type_info = [
        ("Forename", Unicode(max_len=50)),
        ("Surname", Unicode(min_occurs=1, max_len=50)),
        ("DateOfBirth", Date),
        ("Contact", Unicode(max_occurs=2, max_len=254)),
        ("role", XmlAttribute(Unicode(values=["INFORMANT", "VICTIM", "WITNESS", "SUSPECT"]), use="required")),
    ]


class MlCase(ComplexModel):
    __namespace__ = ML_CASE
    __type_name__ = "CaseDetails"
    _type_info = [
        ("CaseType", Unicode(min_occurs=1, values=["ANTISOCIAL_BEHAVIOUR", "CRIME_REPORT", "ROAD_INCIDENT",
                                                   "INTELLIGENCE"])),
        ("ReceivedAt", DateTime(min_occurs=1)),
        ("IncidentDate", Date),
        ("Summary", Unicode(min_occurs=1, max_len=1000)),
        ("Location", MlAddress),
        ("Subject", MlSubject.customize(max_occurs="unbounded")),
    ]


class RecordNotFound(Fault):
    """Declared in the WSDL (wsdl:fault); spyne answers faultcode Client.RecordNotFound."""
    __namespace__ = ML_SVC
    _type_info = [("Reference", Unicode), ("Message", Unicode)]

    def __init__(self, reference="", message="no such case"):
        super().__init__("Client.RecordNotFound", message)
        self.Reference = reference
        self.Message = message


ML_SOURCE = Unicode(min_occurs=1, nillable=False, min_len=1, max_len=64)
ML_NUMBER = Unicode(min_occurs=1, nillable=False, pattern="ML[0-9]{2}/[0-9]{6}")


class CaseLinkIntake(ServiceBase):
    __in_header__ = CallingSystem

    @rpc(ML_SOURCE, MlCase.customize(min_occurs=1, nillable=False),
         _returns=Unicode(min_occurs=1), _out_variable_name="CaseNumber")
    def CreateCase(ctx, SourceReference, CaseDetails):
        rec = commit(ctx, lambda call: call.state.store.create(
            call, SourceReference, body_child(ctx, ML_SVC, "CaseDetails")))
        return rec["legacy_reference"]

    @rpc(ML_NUMBER, ML_SOURCE, MlCase.customize(min_occurs=1, nillable=False),
         _returns=(Unicode(min_occurs=1), Integer(min_occurs=1)), _out_variable_names=("CaseNumber", "Revision"),
         _throws=RecordNotFound)
    def UpdateCase(ctx, CaseNumber, SourceReference, CaseDetails):
        rec = commit(ctx, lambda call: call.state.store.update(
            call, CaseNumber, SourceReference, body_child(ctx, ML_SVC, "CaseDetails")))
        if rec is None:
            raise RecordNotFound(CaseNumber, "no case %s" % CaseNumber)
        return CaseNumber, len(rec["versions"])

    @rpc(ML_SOURCE, _returns=(Unicode(min_occurs=1), Integer(min_occurs=1), Unicode(values=["OPEN", "CLOSED"])),
         _out_variable_names=("CaseNumber", "Revision", "Status"), _throws=RecordNotFound)
    def LocateCase(ctx, SourceReference):
        rec = commit(ctx, lambda call: call.state.store.find(SourceReference))
        if rec is None:
            raise RecordNotFound(SourceReference, "no case was created with this source reference")
        return rec["legacy_reference"], len(rec["versions"]), "OPEN"


# ====================================================================== shapes
class Endpoint:
    def __init__(self, path, version, wsdl_file):
        self.path = path
        self.version = version            # "1.1" | "1.2"
        self.protocol = Soap11 if version == "1.1" else Soap12
        self.wsdl_file = wsdl_file


class SpyneShape:
    name = None
    title = None
    tns = None
    app_name = None
    service = None
    endpoints = []
    kinds = {}           # operation -> create | update | lookup

    def __init__(self, wsdl_dir=FIXTURES, system_ids=None):
        self.wsdl_dir = Path(wsdl_dir)
        self.system_ids = system_ids

    def reference(self, n):
        raise NotImplementedError

    def check_call(self, ctx, call):
        """Shape-specific checks spyne does not make (raise a spyne Fault)."""

    def application(self, endpoint, state=None):
        app = Application([self.service], tns=self.tns, name=self.app_name,
                          in_protocol=endpoint.protocol(validator="lxml"), out_protocol=endpoint.protocol())
        if state is not None:
            app.event_manager.add_listener("method_call", lambda ctx: on_method_call(self, state, ctx))
        return app

    def committed(self, endpoint):
        return self.wsdl_dir / self.name / endpoint.wsdl_file

    def generate_wsdl(self, endpoint, base=PLACEHOLDER):
        """spyne's WSDL for this endpoint with the given address, in canonical() form."""
        app = self.application(endpoint)
        WsgiApplication(app)  # sets app.transport (the binding's transport URI)
        doc = Wsdl11(app.interface)
        doc.build_interface_document(base + endpoint.path)
        return canonical(doc.get_interface_document())


RANK = {"import": 0, "include": 0, "redefine": 0, "annotation": 1, "simpleType": 2, "complexType": 2,
        "group": 3, "attributeGroup": 3, "attribute": 4, "element": 5}


def canonical(data, location=None):
    """spyne's WSDL in a stable form: spyne writes the schemas of wsdl:types, and the
    components of each schema, in an order that changes from run to run (it iterates over
    sets of classes). Order carries no meaning there, so they are sorted (schemas by
    target namespace; imports first, then types, then elements, each by name); nothing
    else is touched. With `location`, every soap:address is set to it. Pretty-printed."""
    root = etree.fromstring(data, etree.XMLParser(remove_blank_text=True, resolve_entities=False, no_network=True))
    for schema in root.iter("{%s}schema" % wc.XS):
        kids = list(schema)
        kids.sort(key=lambda e: (RANK.get(etree.QName(e).localname, 9), e.get("name") or e.get("namespace") or ""))
        schema[:] = kids
    for types in root.iter("{%s}types" % wc.WSDL):
        types[:] = sorted(types, key=lambda e: e.get("targetNamespace") or "")
    if location is not None:
        for a in root.iter("{%s}address" % wc.SOAP11_BIND, "{%s}address" % wc.SOAP12_BIND):
            a.set("location", location)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


class SpyneWrapped(SpyneShape):
    name = "spyne-wrapped"
    title = "Ravenscar RMS incident intake"
    tns = RV_SVC
    app_name = "IncidentIntake"
    service = IncidentIntakeService
    endpoints = [Endpoint("/ravenscar/rms/IncidentIntake", "1.1", "IncidentIntake.wsdl")]
    kinds = {"SubmitIncident": "create", "AmendIncident": "update", "FindIncidentByExternalReference": "lookup"}

    def reference(self, n):
        return "RV-%04d-%06d" % (now().year, n)


class SpyneBare(SpyneShape):
    name = "spyne-bare"
    title = "Holderness OccurrenceManager"
    tns = HO_SVC
    app_name = "OccurrenceService"
    service = OccurrenceService
    endpoints = [Endpoint("/holderness/om/OccurrenceService", "1.1", "OccurrenceService.wsdl")]
    kinds = {"RegisterOccurrence": "create", "ReviseOccurrence": "update", "FindOccurrence": "lookup"}

    def reference(self, n):
        return "OM%02d%06d" % (now().year % 100, n)


class SpyneHeader(SpyneShape):
    name = "spyne-header"
    title = "Marston CaseLink intake"
    tns = ML_SVC
    app_name = "CaseLinkIntake"
    service = CaseLinkIntake
    endpoints = [Endpoint("/caselink/v5/IntakeService", "1.1", "CaseLinkIntake.wsdl"),
                 Endpoint("/caselink/v5/IntakeService12", "1.2", "CaseLinkIntake.soap12.wsdl")]
    kinds = {"CreateCase": "create", "UpdateCase": "update", "LocateCase": "lookup"}

    def reference(self, n):
        return "ML%02d/%06d" % (now().year % 100, n)

    def check_call(self, ctx, call):
        # spyne deserialises declared headers but neither requires nor validates them
        el = next((h for h in call.headers if h.tag == "{%s}CallingSystem" % ML_HDR), None)
        if el is None:
            raise Fault("Client.MissingHeader", "the CallingSystem SOAP header (%s) is required" % ML_HDR)
        schema = ctx.app.in_protocol.validation_schema
        if not schema.validate(el):
            raise SchemaValidationError(str(schema.error_log.last_error))
        system = el.findtext("{%s}SystemId" % ML_HDR)
        if self.system_ids and system not in self.system_ids:
            raise Fault("Client.UnknownCallingSystem", "calling system %s is not registered with CaseLink" % system)


SHAPES = {s.name: s for s in (SpyneWrapped, SpyneBare, SpyneHeader)}


def on_method_call(shape, state, ctx):
    """Runs after spyne validated and dispatched the request, before the method: the
    shape's own checks, then the control plane's decision for this call."""
    call = current(ctx)
    call.operation = SimpleNamespace(name=ctx.descriptor.operation_name or ctx.descriptor.name)
    call.headers = list(ctx.in_header_doc or [])
    shape.check_call(ctx, call)
    op = call.operation.name
    action = state.control.decide(op, shape.kinds.get(op, "other"))
    call.action = action
    if action and action[0] == "fail":
        if action[1] == "client_fault":
            raise Fault("Client", "request rejected by the records system")
        # server_fault is answered by spyne as it is; the other kinds are replaced by the
        # HTTP handler (HTTP status, wsse fault, dropped connection)
        raise Fault("Server", "records database unavailable, try again later")
    if action and action[0] == "slow":
        state.count("slow")
        time.sleep(action[1] / 1000.0)  # then commit (the method runs) and answer


# ====================================================================== HTTP
class State(ControlState):
    def __init__(self, shape, options):
        self.shape = shape
        operations = list(shape.kinds)
        super().__init__(Store(shape.reference), operations, options)
        self.endpoints = {}
        for ep in shape.endpoints:
            app = shape.application(ep, self)
            ep_state = SimpleNamespace(endpoint=ep, app=app, wsgi=WsgiApplication(app),
                                       schema=app.in_protocol.validation_schema,
                                       methods={k: v[0] for k, v in app.interface.service_method_map.items()})
            self.endpoints[ep.path] = ep_state

    def describe(self):
        return {"shape": self.shape.name, "title": self.shape.title, "toolkit": "spyne",
                "wsdl": str(self.shape.committed(self.shape.endpoints[0])),
                "contracts": [str(self.shape.committed(ep)) for ep in self.shape.endpoints],
                "ports": [{"name": self.shape.app_name, "soap_version": ep.version, "path": ep.path}
                          for ep in self.shape.endpoints]}


class Handler(ControlPlaneHandler):
    server_version = "SpyneLegacyRms/1.0"

    def wsgi(self, ep, method, body, query=""):
        env = {
            "REQUEST_METHOD": method, "PATH_INFO": ep.endpoint.path, "SCRIPT_NAME": "", "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
            "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0), "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": self.headers.get("Host", "127.0.0.1"),
        }
        if self.headers.get("SOAPAction") is not None:
            env["HTTP_SOAPACTION"] = self.headers["SOAPAction"]
        call = SimpleNamespace(state=self.state, version=ep.endpoint.version, raw=body, headers=[],
                               soap_action=soap_action(self.headers, ep.endpoint.version),
                               operation=SimpleNamespace(name=None), action=None)
        env["legacy.call"] = call
        result = {}

        def start_response(status, headers, exc_info=None):
            result["status"] = int(status.split()[0])
            result["headers"] = headers
            return lambda data: None

        data = b"".join(ep.wsgi(env, start_response))
        ctype = dict((k.lower(), v) for k, v in result.get("headers", [])).get("content-type", "text/xml")
        return result.get("status", 500), ctype, data, call

    def get_other(self, url):
        ep = self.state.endpoints.get(url.path)
        if ep is None or url.query.split("=")[0].lower() != "wsdl":
            self.reply(404, b"not found", "text/plain")
            return
        status, ctype, data, _ = self.wsgi(ep, "GET", b"", url.query)
        self.reply(status, data, ctype)

    def do_POST(self):
        url = urlparse(self.path)
        body = self.read_body()
        if url.path == "/control":
            self.control(url.query)
            return
        st = self.state
        ep = st.endpoints.get(url.path)
        if ep is None:
            self.reply(404, ("no SOAP endpoint at %s; this system serves %s" % (
                url.path, ", ".join(st.endpoints))).encode(), "text/plain")
            return
        version = ep.endpoint.version
        if not self.basic_ok():
            return
        header_elements = self.header_elements(body, version)
        if st.security is not None:
            try:
                st.security.check(header_elements)
            except SoapFault as f:
                st.count("auth_failed")
                self.fault(version, f)
                return
        op = self.operation_of(ep, body, version)
        if op is not None:
            st.count("received", op)
        try:
            status, ctype, data, call = self.wsgi(ep, "POST", body)
        except Exception as e:  # noqa: BLE001 - spyne itself failed: never the client's doing
            print("BUG: spyne raised %s: %s" % (type(e).__name__, e), file=sys.stderr, flush=True)
            st.count("server_bug")
            self.reply(500, ("test server bug: %s" % e).encode(), "text/plain")
            return
        action = call.action
        if action and action[0] == "fail":
            if action[1] in ("server_fault", "client_fault"):
                st.count("injected_" + action[1])
                self.reply(status, data, ctype)
            else:
                self.inject(version, action[1])
            return
        if status == 200:
            bug = self.check_answer(ep, data)
            if bug:
                print("BUG: %s" % bug, file=sys.stderr, flush=True)
                st.count("server_bug")
                self.reply(500, ("test server bug: %s" % bug).encode(), "text/plain")
                return
        else:
            st.count("client_fault" if fault_is_client(data) else "server_fault")
        if action and action[0] == "drop":
            st.count("dropped")  # carried out (committed, or refused), then no answer
            self.close_connection = True
            return
        if status == 200:
            st.count("ok")
        self.reply(status, data, ctype)

    @staticmethod
    def operation_of(ep, body, version):
        """The operation a request is for (spyne dispatches on the body element), valid or not."""
        try:
            doc = etree.fromstring(body, wc.secure_parser())
        except etree.XMLSyntaxError:
            return None
        b = doc.find("{%s}Body" % wc.ENV_OF[version])
        if b is None or len(b) == 0:
            return None
        d = ep.methods.get(b[0].tag)
        return (d.operation_name or d.name) if d is not None else None

    @staticmethod
    def check_answer(ep, data):
        """spyne does not validate what it sends; this server does, against spyne's own schema."""
        doc = etree.fromstring(data, wc.secure_parser())
        b = doc.find("{%s}Body" % wc.ENV_OF[ep.endpoint.version])
        if b is None or len(b) != 1:
            return "answer without exactly one body element"
        if not ep.schema.validate(b[0]):
            return "answer outside spyne's own schema: %s" % ep.schema.error_log.last_error
        return None


def soap_action(headers, version):
    if version == "1.1":
        v = headers.get("SOAPAction")
        return v.strip().strip('"') if v is not None else None
    _, params = wc.parse_content_type(headers.get("Content-Type"))
    return params.get("action")


def fault_is_client(data):
    try:
        doc = etree.fromstring(data, wc.secure_parser())
    except etree.XMLSyntaxError:
        return False
    code = doc.findtext(".//faultcode") or doc.findtext(".//{%s}Code/{%s}Value" % (wc.ENV12, wc.ENV12)) or ""
    local = code.split(":", 1)[-1]
    return local.startswith("Client") or local.startswith("Sender")


# ====================================================================== contracts
def check_contracts(shape):
    """None when spyne's WSDL for every endpoint equals the committed file, else the diff."""
    problems = []
    for ep in shape.endpoints:
        path = shape.committed(ep)
        generated = shape.generate_wsdl(ep)
        if not path.exists():
            problems.append("%s: missing; generate it with --write-wsdl %s" % (path, shape.wsdl_dir))
            continue
        committed = canonical(path.read_bytes(), PLACEHOLDER + ep.path)
        if committed != generated:
            diff = difflib.unified_diff(committed.decode().splitlines(), generated.decode().splitlines(),
                                        str(path), "generated by spyne %s" % spyne_version(), lineterm="", n=2)
            problems.append("\n".join(list(diff)[:80]))
    return "\n".join(problems) or None


def spyne_version():
    import spyne
    return spyne.__version__


def write_wsdl(directory, shapes):
    for shape in shapes:
        for ep in shape.endpoints:
            path = Path(directory) / shape.name / ep.wsdl_file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(shape.generate_wsdl(ep))
            print(path)


def main():
    argv = sys.argv[1:]
    if argv and argv[0] == "--write-wsdl":
        if len(argv) < 2:
            raise SystemExit(__doc__)
        names = argv[argv.index("--shape") + 1].split(",") if "--shape" in argv else list(SHAPES)
        write_wsdl(argv[1], [SHAPES[n]() for n in names])
        return
    port, opts = parse_options(argv, ("shape", "basic", "wsse", "wsse_type", "chaos", "rates", "slow_rate",
                                      "slow_ms", "seed", "chaos_ops", "system_id", "wsdl_dir"), __doc__)
    if opts.get("shape") not in SHAPES:
        raise SystemExit("--shape must be one of: %s" % ", ".join(sorted(SHAPES)))
    cls = SHAPES[opts["shape"]]
    if "system_id" in opts and cls is not SpyneHeader:
        raise SystemExit("--system-id applies to spyne-header only")
    shape = cls(opts.get("wsdl_dir", FIXTURES),
                set(opts["system_id"].split(",")) if "system_id" in opts else None)
    drift = check_contracts(shape)
    if drift:
        print("contract drift: the WSDL spyne %s generates for %s is not the committed contract.\n"
              "If the change is intended, regenerate with: %s --write-wsdl %s --shape %s, review the diff and "
              "the bridge's tests.\n%s" % (spyne_version(), shape.name, sys.argv[0], shape.wsdl_dir, shape.name, drift),
              file=sys.stderr, flush=True)
        sys.exit(3)
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
