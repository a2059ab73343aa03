#!/usr/bin/python3
"""Self-test of the spyne legacy systems (spyne_legacy_server.py): each shape is started
on port 0 and driven with zeep loading the COMMITTED WSDL file (the contract the bridge
reads), not the one the server serves. Checks the answers, faults and /dump records, the
control plane, WS-Security / basic auth, the example envelopes, and that the server
refuses to start when spyne's contract drifts from the committed file.

Usage: selftest_spyne_servers.py [-v] [spyne-wrapped|spyne-bare|spyne-header|spyne-auth|spyne-contract ...]
(default: all). Also run by selftest_wsdl_servers.py. Exit status 1 on any mismatch.
"""
import datetime
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests
import zeep
import zeep.exceptions
from lxml import etree
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import selftest_wsdl_servers as base  # noqa: E402
from selftest_wsdl_servers import check, error_of, ext, fault_of  # noqa: E402

SPYNE = HERE / "spyne_legacy_server.py"
FIX = HERE.parent / "fixtures" / "wsdl" / "spyne"
ENV11 = "http://schemas.xmlsoap.org/soap/envelope/"
ENV12 = "http://www.w3.org/2003/05/soap-envelope"
XSI = "http://www.w3.org/2001/XMLSchema-instance"


def server(shape, *args):
    return base.Server(shape, *args, script=SPYNE)


def client(wsdl, timeout=None, **kw):
    if timeout is not None:
        kw["transport"] = Transport(operation_timeout=timeout)
    return zeep.Client(str(wsdl), **kw)


def canonical(data, location):
    import spyne_legacy_server as sls  # the normaliser only (order of schema components)
    return sls.canonical(data, location)


def served_contract_matches(s, shape, path, wsdl_file):
    """GET ?wsdl (spyne's own document, real address) equals the committed file modulo address."""
    r = requests.get(s.url(path + "?wsdl"))
    committed = (FIX / shape / wsdl_file).read_bytes()
    ok = r.status_code == 200 and canonical(r.content, "X") == canonical(committed, "X")
    addr = etree.fromstring(r.content).find(".//{http://schemas.xmlsoap.org/wsdl/}port/*")
    check(ok and addr is not None and addr.get("location") == s.url(path),
          "%s: served ?wsdl == committed %s modulo the address (%s)" % (shape, wsdl_file, addr is not None
                                                                         and addr.get("location")))


def raw_post(url, body, version, action):
    if version == "1.1":
        headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"%s"' % action}
    else:
        headers = {"Content-Type": 'application/soap+xml; charset=utf-8; action="%s"' % action}
    return requests.post(url, data=body.encode() if isinstance(body, str) else body, headers=headers)


def altered(c, svc, url, op, alter, **kwargs):
    """zeep's request for op(**kwargs), changed by alter(envelope), posted as it is."""
    env = c.create_message(svc, op, **kwargs)
    alter(env)
    return raw_post(url, etree.tostring(env), "1.1", op)


def extra_failures(s, create, args_of, version="1.1"):
    """The fail_next kinds base.modes() does not cover, each checked for its exact form."""
    before = len(s.dump()["records"])
    s.control("fail_next=1&kind=client_fault")
    f = fault_of(create, **args_of(900))
    check(f is not None and ("Client" in f.code or "Sender" in f.code), "fail_next=client_fault -> Client fault")
    s.control("fail_next=1&kind=auth_fault")
    f = fault_of(create, **args_of(901))
    want = "FailedAuthentication"
    check(f is not None and (f.code.endswith(want) or any(q.localname == want for q in (f.subcodes or []))),
          "fail_next=auth_fault -> wsse:FailedAuthentication (%s)" % (f and f.code))
    s.control("fail_next=1&kind=http401")
    e = error_of(create, **args_of(902))
    check(isinstance(e, zeep.exceptions.TransportError) and e.status_code == 401, "fail_next=http401 -> HTTP 401")
    s.control("fail_next=1&kind=drop_before")
    e = error_of(create, **args_of(903))
    check(isinstance(e, requests.exceptions.ConnectionError), "fail_next=drop_before closes without answer")
    check(len(s.dump()["records"]) == before, "fail_next kinds: nothing committed")


# ------------------------------------------------------------------ a. spyne-wrapped
WRAPPED_WSDL = FIX / "spyne-wrapped" / "IncidentIntake.wsdl"
WRAPPED_NS = "http://schemas.ravenscar-rms.co.uk/services/intake/2021/06"
WRAPPED_BINDING = "{%s}IncidentIntake" % WRAPPED_NS
WRAPPED_PATH = "/ravenscar/rms/IncidentIntake"


def incident(ref, **over):
    r = {"ExternalReference": ref, "SourceSystem": "PUBLIC_APP", "IncidentType": "ASB",
         "ReportedAt": datetime.datetime(2026, 11, 27, 18, 42, 10, tzinfo=datetime.timezone.utc),
         "Narrative": "Group throwing stones at buses",
         "Location": {"Address": {"Street": "Linthorpe Road", "Town": "Middlesbrough", "Postcode": "TS1 3QY"},
                      "GridReference": {"Easting": 449500, "Northing": 519900}},
         "Reporter": {"Forename": "Aisha", "Surname": "Khan", "contactConsent": "YES"},
         "Witnesses": {"Witness": [{"Name": "J Smith", "witnessType": "EYEWITNESS"},
                                   {"Name": "P Jones", "witnessType": "OTHER"}]},
         "Attachments": {"Attachment": [{"FileName": "IMG_0042.jpg", "MediaType": "image/jpeg", "SizeBytes": 734211,
                                         "Sha256": "9f" * 32, "sequence": 1}]},
         "channel": "APP"}
    r.update(over)
    return r


def test_spyne_wrapped():
    sub = str(uuid.uuid4())
    with server("spyne-wrapped") as s:
        served_contract_matches(s, "spyne-wrapped", WRAPPED_PATH, "IncidentIntake.wsdl")
        c = client(WRAPPED_WSDL)
        svc = c.create_service(WRAPPED_BINDING, s.url(WRAPPED_PATH))
        r = svc.SubmitIncident(IncidentReport=incident(ext(1, sub)))
        ref = r.IncidentNumber
        check(ref.startswith("RV-") and r.ReceivedAt is not None,
              "spyne-wrapped: create returns IncidentNumber and ReceivedAt (%s)" % ref)
        check(svc.FindIncidentByExternalReference(ExternalReference=ext(1, sub)) == ref, "spyne-wrapped: lookup found")
        with c.settings(raw_response=True):
            raw = svc.FindIncidentByExternalReference(ExternalReference=ext(1)).content
        nil = etree.fromstring(raw).find(".//{%s}IncidentNumber" % WRAPPED_NS)
        check(nil is not None and nil.get("{%s}nil" % XSI) == "true" and not nil.text,
              "spyne-wrapped: lookup not found is <IncidentNumber xsi:nil=\"true\"/> (%s)" % raw[-200:])
        check(svc.FindIncidentByExternalReference(ExternalReference=ext(1)) is None,
              "spyne-wrapped: zeep reads the nil as None")
        u = svc.AmendIncident(IncidentNumber=ref, IncidentReport=incident(ext(2, sub), Narrative="Updated"))
        check(u.IncidentNumber == ref and u.Revision == 2, "spyne-wrapped: update with the reference as sibling")
        check(svc.FindIncidentByExternalReference(ExternalReference=ext(2, sub)) == ref,
              "spyne-wrapped: lookup finds the update's external reference")
        f = fault_of(svc.AmendIncident, IncidentNumber="RV-2026-999999", IncidentReport=incident(ext(3, sub)))
        check(f is not None and f.code.endswith("Client.IncidentNotFound"),
              "spyne-wrapped: update unknown -> Client.IncidentNotFound (%s)" % (f and f.code))
        f = fault_of(svc.AmendIncident, IncidentNumber="RV-26-1", IncidentReport=incident(ext(3, sub)))
        check(f is not None and f.code.endswith("Client.SchemaValidationError") and "pattern" in f.message,
              "spyne-wrapped: malformed IncidentNumber -> SchemaValidationError (pattern)")
        f = fault_of(svc.SubmitIncident, IncidentReport=incident(ext(4, sub), IncidentType="BURGLARY"))
        check(f is not None and f.code.endswith("Client.SchemaValidationError") and "enumeration" in f.message,
              "spyne-wrapped: invalid record -> Client.SchemaValidationError naming the facet")
        f = fault_of(svc.SubmitIncident, IncidentReport=incident(ext(4, sub), channel="FAX"))
        check(f is not None and "channel" in f.message, "spyne-wrapped: invalid attribute -> SchemaValidationError")
        d = s.dump()
        check(len(d["records"]) == 1 and len(d["records"][0]["versions"]) == 2, "spyne-wrapped: one record, two versions")
        v = d["records"][0]["versions"][0]
        check(v["external_reference"] == ext(1, sub) and "ExternalReference" in v["record"]
              and "SubmitIncident" in v["request"] and v["operation"] == "SubmitIncident" and v["kind"] == "create",
              "spyne-wrapped: dump keeps the record, the request and the operation")
        check(d["calls"] == {"SubmitIncident": 3, "AmendIncident": 3, "FindIncidentByExternalReference": 4},
              "spyne-wrapped: calls counted per operation, invalid ones too (%s)" % d["calls"])
        # the hard-wired sink's old envelope is refused loudly
        old = ('<s:Envelope xmlns:s="%s"><s:Body><v:SubmitIncident xmlns:v="%s"><v:ExternalReference>x</v:ExternalReference>'
               '<v:Report/></v:SubmitIncident></s:Body></s:Envelope>' % (ENV11, WRAPPED_NS))
        r = raw_post(s.url(WRAPPED_PATH), old, "1.1", "SubmitIncident")
        check(r.status_code == 500 and b"Client.SchemaValidationError" in r.content and b"ExternalReference" in r.content,
              "spyne-wrapped: reference beside the record (old sink shape) -> SchemaValidationError")
        # spyne's leniency, pinned so a change shows: it dispatches on the body element only
        # (SOAPAction and Content-Type are not checked) and never faults MustUnderstand
        lenient = ('<s:Envelope xmlns:s="%s"><s:Header><x:Unknown xmlns:x="urn:x" s:mustUnderstand="1"/></s:Header>'
                   '<s:Body><v:FindIncidentByExternalReference xmlns:v="%s"><v:ExternalReference>x</v:ExternalReference>'
                   '</v:FindIncidentByExternalReference></s:Body></s:Envelope>' % (ENV11, WRAPPED_NS))
        r = requests.post(s.url(WRAPPED_PATH), data=lenient, headers={"Content-Type": "application/soap+xml",
                                                                      "SOAPAction": '"SubmitIncident"'})
        check(r.status_code == 200 and b"IncidentNumber" in r.content,
              "spyne-wrapped: spyne ignores SOAPAction, Content-Type and mustUnderstand (documented)")
        r = raw_post(s.url(WRAPPED_PATH), b"<not xml", "1.1", "SubmitIncident")
        check(r.status_code == 500 and b"Client.XMLSyntaxError" in r.content, "spyne-wrapped: malformed XML -> Client fault")
        r = requests.post(s.url("/elsewhere"), data=old, headers={"Content-Type": "text/xml"})
        check(r.status_code == 404, "spyne-wrapped: unknown path -> 404")
        svc.SubmitIncident(IncidentReport=incident(ext(1, sub)))
        check(len(s.dump()["duplicates"].get(ext(1, sub), [])) == 2,
              "spyne-wrapped: create always creates (duplicate listed in /dump)")
        create = svc.SubmitIncident
        args_of = lambda n: {"IncidentReport": incident(ext(n + 100, sub))}  # noqa: E731
        present = lambda n: svc.FindIncidentByExternalReference(ExternalReference=ext(n + 100, sub)) is not None  # noqa: E731
        extra_failures(s, create, args_of)
        base.modes(s, create, args_of, present,
                   client(WRAPPED_WSDL, timeout=1).create_service(WRAPPED_BINDING, s.url(WRAPPED_PATH)).SubmitIncident)


# ------------------------------------------------------------------ b. spyne-bare
BARE_WSDL = FIX / "spyne-bare" / "OccurrenceService.wsdl"
BARE_NS = "http://holderness-systems.co.uk/occurrence-manager/soap/2.4"
BARE_REC = "http://holderness-systems.co.uk/occurrence-manager/records/2.4"
BARE_BINDING = "{%s}OccurrenceService" % BARE_NS
BARE_PATH = "/holderness/om/OccurrenceService"


def occurrence(ref, **over):
    r = {"sourceReference": ref, "Category": "ASB", "Priority": 3,
         "Occurred": datetime.datetime(2026, 11, 27, 18, 15, tzinfo=datetime.timezone.utc),
         "Summary": "Group throwing stones at buses",
         "Place": {"AddressLine": ["Paragon Interchange", "Hull"], "Postcode": "HU1 3UT",
                   "Latitude": "53.744100", "Longitude": "-0.345600"},
         "Person": [{"role": "REPORTER", "GivenName": "Aisha", "FamilyName": "Khan", "Phone": ["07700900123"]},
                    {"role": "WITNESS", "FamilyName": "Smith"}],
         "Media": [{"fileName": "IMG_0042.jpg", "mediaType": "image/jpeg", "sizeBytes": 734211, "Caption": "shelter"}]}
    r.update(over)
    return r


def test_spyne_bare():
    sub = str(uuid.uuid4())
    with server("spyne-bare") as s:
        served_contract_matches(s, "spyne-bare", BARE_PATH, "OccurrenceService.wsdl")
        c = client(BARE_WSDL)
        svc = c.create_service(BARE_BINDING, s.url(BARE_PATH))
        r = svc.RegisterOccurrence(**occurrence(ext(1, sub)))
        ref = r.OccurrenceNumber
        check(ref.startswith("OM") and r.Revision == 1, "spyne-bare: create returns OccurrenceNumber (%s)" % ref)
        m = svc.FindOccurrence(ext(1, sub))
        check(m.OccurrenceNumber == ref and m.Status == "OPEN", "spyne-bare: lookup found")
        with c.settings(raw_response=True):
            raw = svc.FindOccurrence(ext(1)).content
        body = etree.fromstring(raw).find("{%s}Body" % ENV11)
        check(len(body) == 1 and body[0].tag == "{%s}FindOccurrenceResponse" % BARE_NS and len(body[0]) == 0
              and not body[0].attrib, "spyne-bare: lookup not found is an empty <FindOccurrenceResponse/> (%s)" % raw[-150:])
        u = svc.ReviseOccurrence(**occurrence(ext(2, sub), occurrenceNumber=ref, Category="CRIME"))
        check(u.OccurrenceNumber == ref and u.Revision == 2, "spyne-bare: update with the reference as an attribute")
        check(svc.FindOccurrence(ext(2, sub)).OccurrenceNumber == ref, "spyne-bare: lookup of the update")
        f = fault_of(svc.ReviseOccurrence, **occurrence(ext(3, sub)))
        check(f is not None and f.code.endswith("Client.MissingOccurrenceNumber"),
              "spyne-bare: update without occurrenceNumber -> Client.MissingOccurrenceNumber")
        f = fault_of(svc.ReviseOccurrence, **occurrence(ext(3, sub), occurrenceNumber="OM26999999"))
        check(f is not None and f.code.endswith("Client.OccurrenceNotFound"), "spyne-bare: update unknown -> fault")
        # zeep refuses to build these, so they are zeep's valid request altered on the wire
        def lines(n):
            def alter(env):
                place = env.find(".//{%s}Place" % BARE_REC)
                for line in place.findall("{%s}AddressLine" % BARE_REC):
                    place.remove(line)
                for i in range(n):
                    etree.SubElement(place, "{%s}AddressLine" % BARE_REC).text = "line %d" % i
                    place.insert(i, place[-1])
            return alter
        r = altered(c, svc, s.url(BARE_PATH), "RegisterOccurrence", lines(0), **occurrence(ext(4, sub)))
        check(r.status_code == 500 and b"Client.SchemaValidationError" in r.content and b"AddressLine" in r.content,
              "spyne-bare: missing required repeated element -> SchemaValidationError")
        r = altered(c, svc, s.url(BARE_PATH), "RegisterOccurrence", lines(5), **occurrence(ext(4, sub)))
        check(r.status_code == 500 and b"Client.SchemaValidationError" in r.content and b"Postcode" in r.content,
              "spyne-bare: a fifth AddressLine (maxOccurs 4) -> SchemaValidationError")
        # a wrapped-style body (record inside a wrapper) is not what a bare contract takes
        wrong = ('<s:Envelope xmlns:s="%s"><s:Body><o:RegisterOccurrence xmlns:o="%s" sourceReference="x:1">'
                 '<o:OccurrenceRecord/></o:RegisterOccurrence></s:Body></s:Envelope>' % (ENV11, BARE_NS))
        r = raw_post(s.url(BARE_PATH), wrong, "1.1", "RegisterOccurrence")
        check(r.status_code == 500 and b"Client.SchemaValidationError" in r.content,
              "spyne-bare: record wrapped once more -> SchemaValidationError")
        d = s.dump()
        check(len(d["records"]) == 1 and [v["external_reference"] for v in d["records"][0]["versions"]]
              == [ext(1, sub), ext(2, sub)], "spyne-bare: one record, two versions, references from the attribute")
        check(etree.fromstring(d["records"][0]["versions"][0]["record"]).tag == "{%s}RegisterOccurrence" % BARE_NS,
              "spyne-bare: the dumped record is the body element itself")
        r = altered(c, svc, s.url(BARE_PATH), "RegisterOccurrence", lines(4), **occurrence(ext(4, sub)))
        check(r.status_code == 200, "spyne-bare: four AddressLines accepted (%s)" % r.text[-300:])
        create = svc.RegisterOccurrence
        args_of = lambda n: occurrence(ext(n + 100, sub))  # noqa: E731
        present = lambda n: svc.FindOccurrence(ext(n + 100, sub)).OccurrenceNumber is not None  # noqa: E731
        extra_failures(s, create, args_of)
        base.modes(s, create, args_of, present,
                   client(BARE_WSDL, timeout=1).create_service(BARE_BINDING, s.url(BARE_PATH)).RegisterOccurrence)


# ------------------------------------------------------------------ c. spyne-header
HEADER_NS = "urn:marston:caselink:intake:5"
HEADER_BINDING = "{%s}CaseLinkIntake" % HEADER_NS
HEADER_PORTS = (("1.1", "CaseLinkIntake.wsdl", "/caselink/v5/IntakeService"),
                ("1.2", "CaseLinkIntake.soap12.wsdl", "/caselink/v5/IntakeService12"))


def calling(system="REPORTBRIDGE"):
    return {"CallingSystem": {"SystemId": system, "CorrelationId": str(uuid.uuid4()),
                              "SentAt": datetime.datetime(2026, 11, 27, 18, 42, 11, tzinfo=datetime.timezone.utc)}}


def case(**over):
    c = {"CaseType": "ANTISOCIAL_BEHAVIOUR",
         "ReceivedAt": datetime.datetime(2026, 11, 27, 18, 42, 10, tzinfo=datetime.timezone.utc),
         "IncidentDate": datetime.date(2026, 11, 27), "Summary": "Group throwing stones at buses",
         "Location": {"Line": ["Station Street"], "Town": "Stafford", "Postcode": "ST16 2AE"},
         "Subject": [{"role": "INFORMANT", "Forename": "Aisha", "Surname": "Khan",
                      "Contact": ["07700900123", "aisha.khan@example.org"]},
                     {"role": "SUSPECT", "Surname": "Unknown"}]}
    c.update(over)
    return c


def not_found_code(f, version):
    """'RecordNotFound' when f is spyne's named fault in this SOAP version's form."""
    if f is None:
        return None
    if version == "1.1":
        return "RecordNotFound" if f.code == "soap11env:Client.RecordNotFound" else f.code
    return "RecordNotFound" if f.code.endswith("Sender") and [q.localname for q in f.subcodes or []] == [
        "RecordNotFound"] else "%s %s" % (f.code, f.subcodes)


def test_spyne_header():
    sub = str(uuid.uuid4())
    with server("spyne-header", "--system-id", "REPORTBRIDGE") as s:
        for version, wsdl_file, path in HEADER_PORTS:
            served_contract_matches(s, "spyne-header", path, wsdl_file)
            c = client(FIX / "spyne-header" / wsdl_file)
            svc = c.create_service(HEADER_BINDING, s.url(path))
            src = ext(1, sub + version)
            ref = svc.CreateCase(SourceReference=src, CaseDetails=case(), _soapheaders=calling())
            check(ref.startswith("ML"), "spyne-header %s: create returns CaseNumber (%s)" % (version, ref))
            loc = svc.LocateCase(SourceReference=src, _soapheaders=calling())
            check(loc.CaseNumber == ref and loc.Revision == 1, "spyne-header %s: lookup found" % version)
            f = fault_of(svc.LocateCase, SourceReference="nope:" + src, _soapheaders=calling())
            check(not_found_code(f, version) == "RecordNotFound",
                  "spyne-header %s: lookup not found -> named fault RecordNotFound (%s)" % (version, not_found_code(f, version)))
            with c.settings(raw_response=True):
                r = svc.LocateCase(SourceReference="nope:" + src, _soapheaders=calling())
            doc = etree.fromstring(r.content)
            env = ENV11 if version == "1.1" else ENV12
            fault = doc.find("{%s}Body/{%s}Fault" % (env, env))
            check(r.status_code == 500 and fault is not None
                  and fault.findtext("{%s}Reference" % HEADER_NS) == "nope:" + src,
                  "spyne-header %s: not-found fault is HTTP 500 with cl:Reference inside Fault" % version)
            u = svc.UpdateCase(CaseNumber=ref, SourceReference=ext(2, sub + version),
                               CaseDetails=case(CaseType="CRIME_REPORT"), _soapheaders=calling())
            check(u.CaseNumber == ref and u.Revision == 2, "spyne-header %s: update, reference sibling" % version)
            f = fault_of(svc.UpdateCase, CaseNumber="ML26/999999", SourceReference="x:1", CaseDetails=case(),
                         _soapheaders=calling())
            check(not_found_code(f, version) == "RecordNotFound", "spyne-header %s: update unknown -> RecordNotFound"
                  % version)
            f = fault_of(svc.CreateCase, SourceReference=src, CaseDetails=case())
            check(f is not None and "CallingSystem" in f.message and "required" in f.message
                  and ("MissingHeader" in f.code or [q.localname for q in f.subcodes or []] == ["MissingHeader"]),
                  "spyne-header %s: no CallingSystem header -> Client MissingHeader fault" % version)
            f = fault_of(svc.CreateCase, SourceReference=src, CaseDetails=case(), _soapheaders=calling("OTHER_SYS"))
            check(f is not None and "not registered" in f.message, "spyne-header %s: unknown SystemId -> fault" % version)
            f = fault_of(svc.CreateCase, SourceReference=src, CaseDetails=case(), _soapheaders=calling("lower case"))
            check(f is not None and "pattern" in (f.message or ""),
                  "spyne-header %s: invalid header -> SchemaValidationError (%s)" % (version, f and f.message))
            f = fault_of(svc.CreateCase, SourceReference=src, CaseDetails=case(CaseType="THEFT"), _soapheaders=calling())
            check(f is not None and "enumeration" in (f.message or "")
                  and ("SchemaValidationError" in f.code
                       or [q.localname for q in f.subcodes or []] == ["SchemaValidationError"]),
                  "spyne-header %s: invalid record -> SchemaValidationError (%s)" % (version, f and f.code))
        d = s.dump()
        check(len(d["records"]) == 2 and all(len(r["versions"]) == 2 for r in d["records"])
              and [r["versions"][0]["soap_version"] for r in d["records"]] == ["1.1", "1.2"],
              "spyne-header: two records (one per SOAP version), two versions each")
        check(all(any("CallingSystem" in h for h in r["versions"][0]["headers"]) for r in d["records"]),
              "spyne-header: dump keeps the CallingSystem header")
        for version, wsdl_file, path in HEADER_PORTS:
            svc = client(FIX / "spyne-header" / wsdl_file).create_service(HEADER_BINDING, s.url(path))
            create = svc.CreateCase
            args_of = lambda n, v=version: {"SourceReference": ext(n + 100, sub + v), "CaseDetails": case(),  # noqa: E731
                                            "_soapheaders": calling()}
            present = lambda n, v=version, svc=svc: error_of(  # noqa: E731
                svc.LocateCase, SourceReference=ext(n + 100, sub + v), _soapheaders=calling()) is None
            if version == "1.2":
                extra_failures(s, create, args_of, version)
            base.modes(s, create, args_of, present,
                       client(FIX / "spyne-header" / wsdl_file, timeout=1).create_service(
                           HEADER_BINDING, s.url(path)).CreateCase)


# ------------------------------------------------------------------ authentication
def test_spyne_auth():
    rec = incident(ext())
    with server("spyne-wrapped", "--wsse", "bridge:s3cret-pw", "--basic", "bridge:s3cret-pw") as s:
        def svc(wsse=None, basic=("bridge", "s3cret-pw")):
            sess = requests.Session()
            sess.auth = basic
            return client(WRAPPED_WSDL, wsse=wsse, transport=Transport(session=sess)).create_service(
                WRAPPED_BINDING, s.url(WRAPPED_PATH))

        for digest in (False, True):
            kind = "digest" if digest else "text"
            r = svc(UsernameToken("bridge", "s3cret-pw", use_digest=digest)).SubmitIncident(IncidentReport=rec)
            check(r.IncidentNumber.startswith("RV-"), "spyne-auth: WS-Security %s accepted" % kind)
            f = fault_of(svc(UsernameToken("bridge", "wrong", use_digest=digest)).SubmitIncident, IncidentReport=rec)
            check(f is not None and f.code.endswith("FailedAuthentication"),
                  "spyne-auth: wrong password (%s) -> wsse:FailedAuthentication (%s)" % (kind, f and f.code))
        f = fault_of(svc().SubmitIncident, IncidentReport=rec)
        check(f is not None and f.code.endswith("InvalidSecurity"), "spyne-auth: no token -> wsse:InvalidSecurity")
        e = error_of(svc(UsernameToken("bridge", "s3cret-pw"), basic=("bridge", "wrong")).SubmitIncident,
                     IncidentReport=rec)
        check(isinstance(e, zeep.exceptions.TransportError) and e.status_code == 401, "spyne-auth: basic wrong -> 401")
        d = s.dump()
        check(d["outcomes"].get("auth_failed") == 3 and d["outcomes"].get("http401") == 1 and len(d["records"]) == 2,
              "spyne-auth: failures counted, only authenticated calls committed (%s)" % d["outcomes"])
    with server("spyne-header", "--wsse", "bridge:s3cret-pw") as s:
        for pw, ok in (("s3cret-pw", True), ("wrong", False)):
            svc = client(FIX / "spyne-header" / "CaseLinkIntake.soap12.wsdl",
                         wsse=UsernameToken("bridge", pw, use_digest=True)).create_service(
                HEADER_BINDING, s.url("/caselink/v5/IntakeService12"))
            f = fault_of(svc.LocateCase, SourceReference="x:1", _soapheaders=calling())
            if ok:
                check(not_found_code(f, "1.2") == "RecordNotFound", "spyne-auth 1.2: digest accepted (reaches the lookup)")
            else:
                check(f is not None and f.code.endswith("Sender") and f.subcodes
                      and f.subcodes[0].localname == "FailedAuthentication",
                      "spyne-auth 1.2: wrong password -> Sender / wsse:FailedAuthentication (%s)" % (f and f.code))


# ------------------------------------------------------------------ example envelopes
EXAMPLES = [
    # shape, version, path, [(file, SOAPAction)], placeholder reference
    ("spyne-wrapped", "1.1", WRAPPED_PATH,
     [("SubmitIncident.request.xml", "SubmitIncident"), ("AmendIncident.request.xml", "AmendIncident"),
      ("FindIncidentByExternalReference.request.xml", "FindIncidentByExternalReference")], "RV-2026-000001"),
    ("spyne-bare", "1.1", BARE_PATH,
     [("RegisterOccurrence.request.xml", "RegisterOccurrence"), ("ReviseOccurrence.request.xml", "ReviseOccurrence"),
      ("FindOccurrence.request.xml", "FindOccurrence")], "OM26000001"),
    ("spyne-header", "1.1", "/caselink/v5/IntakeService",
     [("CreateCase.soap11.request.xml", "CreateCase"), ("UpdateCase.soap11.request.xml", "UpdateCase"),
      ("LocateCase.soap11.request.xml", "LocateCase")], "ML26/000001"),
    ("spyne-header", "1.2", "/caselink/v5/IntakeService12",
     [("CreateCase.soap12.request.xml", "CreateCase"), ("UpdateCase.soap12.request.xml", "UpdateCase"),
      ("LocateCase.soap12.request.xml", "LocateCase")], "ML26/000001"),
]


def test_spyne_examples():
    """The example envelopes under tests/fixtures/wsdl/spyne/*/examples, posted as they are
    (the update's reference replaced by the one the create returned): each answered 200,
    the lookup finds the record (the C++ sink's golden requests)."""
    import re
    for shape, version, path, files, placeholder in EXAMPLES:
        with server(shape) as s:
            ref = None
            for name, action in files:
                body = (FIX / shape / "examples" / name).read_text()
                if ref:
                    body = body.replace(placeholder, ref)
                r = raw_post(s.url(path), body, version, action)
                found = re.search(r"(RV-[0-9]{4}-[0-9]{6}|OM[0-9]{8}|ML[0-9]{2}/[0-9]{6})", r.text)
                check(r.status_code == 200 and found, "examples %s %s: %s answered 200 with a reference (%d %s)"
                      % (shape, version, name, r.status_code, r.text[:300] if r.status_code != 200 else ""))
                if ref is None and found:
                    ref = found.group(0)
                if name.startswith("Find") or name.startswith("Locate"):
                    check(ref is not None and ref in r.text, "examples %s %s: lookup finds %s" % (shape, version, ref))
            d = s.dump()
            check(len(d["records"]) == 1 and len(d["records"][0]["versions"]) == 2,
                  "examples %s %s: one record, two versions" % (shape, version))


# ------------------------------------------------------------------ contract drift
def test_spyne_contract():
    """The server refuses to start when spyne's WSDL is not the committed one, and does
    not mind a different endpoint address."""
    tmp = Path(tempfile.mkdtemp(prefix="spyne-wsdl-"))
    try:
        shutil.copytree(FIX / "spyne-bare", tmp / "spyne-bare")
        f = tmp / "spyne-bare" / "OccurrenceService.wsdl"
        text = f.read_text()
        f.write_text(text.replace("http://legacy-rms.example.invalid/", "https://om.holderness.example/"))
        with server("spyne-bare", "--wsdl-dir", str(tmp)) as s:
            check(s.dump()["shape"] == "spyne-bare", "contract: another endpoint address is not drift")
        f.write_text(text.replace('<xs:maxLength value="2000"/>', '<xs:maxLength value="4000"/>'))
        t0 = time.time()
        p = subprocess.run(["/usr/bin/python3", str(SPYNE), "0", "--shape", "spyne-bare", "--wsdl-dir", str(tmp)],
                           capture_output=True, timeout=20)
        err = p.stderr.decode()
        check(p.returncode == 3 and not p.stdout and "contract drift" in err and '-          <xs:maxLength value="4000"/>'
              in err and '+          <xs:maxLength value="2000"/>' in err and "--write-wsdl" in err,
              "contract: a changed facet stops the server (exit 3, diff shown) in %.1f s (%s)"
              % (time.time() - t0, err[:600]))
        (tmp / "spyne-bare" / "OccurrenceService.wsdl").unlink()
        p = subprocess.run(["/usr/bin/python3", str(SPYNE), "0", "--shape", "spyne-bare", "--wsdl-dir", str(tmp)],
                           capture_output=True, timeout=20)
        check(p.returncode == 3 and b"missing" in p.stderr, "contract: a missing contract file stops the server")
        out = tmp / "regen"
        p = subprocess.run(["/usr/bin/python3", str(SPYNE), "--write-wsdl", str(out)], capture_output=True, timeout=20)
        same = all((out / sh / w).read_bytes() == (FIX / sh / w).read_bytes() for sh, w in (
            ("spyne-wrapped", "IncidentIntake.wsdl"), ("spyne-bare", "OccurrenceService.wsdl"),
            ("spyne-header", "CaseLinkIntake.wsdl"), ("spyne-header", "CaseLinkIntake.soap12.wsdl")))
        check(p.returncode == 0 and same, "contract: --write-wsdl reproduces the committed files byte for byte")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


TESTS = {"spyne-wrapped": test_spyne_wrapped, "spyne-bare": test_spyne_bare, "spyne-header": test_spyne_header,
         "spyne-auth": test_spyne_auth, "spyne-examples": test_spyne_examples, "spyne-contract": test_spyne_contract}


if __name__ == "__main__":
    sys.exit(base.run(TESTS))
