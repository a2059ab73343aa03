#!/usr/bin/python3
"""Self-test of the legacy test servers: each WSDL is loaded from its FILE by zeep (an
independent SOAP stack), every operation is called against the running server, and the
answers, faults and /dump records are checked. Exits non-zero on any mismatch.

Usage: selftest_wsdl_servers.py [-v] [SHAPE ...]    (default: every shape, the spyne ones too)
Prints one line per check and a closing 'N passed, N failed'.
"""
import datetime
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import requests
import zeep
import zeep.exceptions
import zeep.helpers
from lxml import etree
from zeep.transports import Transport
from zeep.wsse.username import UsernameToken

HERE = Path(__file__).resolve().parent
FIX = HERE.parent / "fixtures" / "wsdl"
SERVER = HERE / "legacy_rms_server.py"
VERBOSE = "-v" in sys.argv

passed = 0
failed = []


def check(cond, what):
    global passed
    if cond:
        passed += 1
        if VERBOSE:
            print("ok    %s" % what)
    else:
        failed.append(what)
        print("FAIL  %s" % what)


class Server:
    def __init__(self, shape, *args, script=SERVER):
        self.proc = subprocess.Popen(["/usr/bin/python3", str(script), "0", "--shape", shape, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("server %s did not start: %s" % (shape, self.proc.stderr.read().decode()))
        self.port = int(line)
        self.base = "http://127.0.0.1:%d" % self.port

    def url(self, path):
        return self.base + path

    def dump(self):
        with urllib.request.urlopen(self.url("/dump")) as r:
            return json.load(r)

    def control(self, query):
        req = urllib.request.Request(self.url("/control?" + query), data=b"", method="POST")
        with urllib.request.urlopen(req) as r:
            return json.load(r)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        err = self.proc.stderr.read().decode()
        check("BUG" not in err, "server stderr has no contract violation (%s)" % err.strip()[:200])

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.stop()


def eventually(cond, seconds=10.0):
    """Polls cond (a loaded machine may take longer than the nominal delay)."""
    until = time.time() + seconds
    while True:
        if cond():
            return True
        if time.time() > until:
            return False
        time.sleep(0.1)


def fault_of(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except zeep.exceptions.Fault as f:
        return f
    return None


def error_of(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001
        return e
    return None


def client(wsdl, timeout=None, **kw):
    if timeout is not None:
        kw["transport"] = Transport(operation_timeout=timeout)
    return zeep.Client(str(wsdl), **kw)


def ext(n=1, sub=None):
    return "%s:%d" % (sub or str(uuid.uuid4()), n)


# ------------------------------------------------------------------ a. wrapped
def test_wrapped():
    wsdl = FIX / "wrapped" / "GuardianIntakeService.wsdl"
    binding = "{http://schemas.caldmore.co.uk/guardian/rms/intake/2019/03}BasicHttpBinding_IIntakeService"
    path = "/Guardian/IntakeService.svc"
    sub = str(uuid.uuid4())

    def record(n, **over):
        r = {"ExternalReference": ext(n, sub), "SourceSystem": "PUBLIC_APP",
             "ReportedDateTime": datetime.datetime(2026, 11, 27, 18, 42, 10),
             "Classification": {"CategoryCode": "ASB01", "Priority": "P3"},
             "Summary": "Group throwing stones at buses",
             "Location": {"Postcode": "TS1 3QY", "GridReference": {"Easting": 449500, "Northing": 519900}},
             "Informant": {"Name": "A Resident", "contactConsent": True},
             "Attachments": {"Attachment": [{"FileName": "IMG_0042.jpg", "MediaType": "image/jpeg",
                                             "SizeBytes": 734211, "Sha256": "9f" * 32}] * 2}}
        r.update(over)
        return r

    with Server("wrapped") as s:
        svc = client(wsdl).create_service(binding, s.url(path))
        r = svc.SubmitCommunityReport(CommunityReport=record(1))
        ref = r.RmsReference
        check(ref.startswith("GRD/"), "wrapped: create returns RmsReference (%s)" % ref)
        check(svc.FindByExternalReference(ExternalReference=ext(1, sub)) == ref, "wrapped: lookup found")
        check(svc.FindByExternalReference(ExternalReference=ext(1)) is None, "wrapped: lookup not found is nil")
        u = svc.UpdateCommunityReport(RmsReference=ref, CommunityReport=record(2, Summary="Updated"))
        check(u.RmsReference == ref and u.VersionNumber == 2, "wrapped: update with sibling reference")
        check(svc.FindByExternalReference(ExternalReference=ext(2, sub)) == ref, "wrapped: lookup of v2")
        f = fault_of(svc.UpdateCommunityReport, RmsReference="GRD/26/999999", CommunityReport=record(3))
        check(f is not None and f.code.endswith("Client") and f.detail is not None
              and f.detail.find(".//{*}Code").text == "UNKNOWN_REFERENCE", "wrapped: update unknown -> IntakeFault")
        f = fault_of(svc.SubmitCommunityReport, CommunityReport=record(4, Classification={"CategoryCode": "asb"}))
        check(f is not None and "pattern" in f.message, "wrapped: invalid record -> Client fault with reason")
        d = s.dump()
        check(len(d["records"]) == 1 and len(d["records"][0]["versions"]) == 2, "wrapped: one record, two versions")
        v = d["records"][0]["versions"][0]
        check("<ExternalReference>" in v["record"] and "CommunityReport" in v["request"],
              "wrapped: dump keeps record (unqualified children) and request XML")
        check(d["calls"]["SubmitCommunityReport"] == 2 and d["calls"]["UpdateCommunityReport"] == 2
              and d["calls"]["FindByExternalReference"] == 3, "wrapped: calls counted per operation")
        # hand-made requests: what a wrong sink would send
        raw_checks(s, path, "text/xml; charset=utf-8", "SubmitCommunityReport", sub)
        # a duplicate delivery shows as two records
        svc.SubmitCommunityReport(CommunityReport=record(1))
        d = s.dump()
        check(d["duplicates"].get(ext(1, sub)) and len(d["duplicates"][ext(1, sub)]) == 2,
              "wrapped: create always creates (duplicate listed in /dump)")
        modes(s, svc.SubmitCommunityReport, lambda n: {"CommunityReport": record(n + 100)},
              lambda n: svc.FindByExternalReference(ExternalReference=ext(n + 100, sub)) is not None,
              client(wsdl, timeout=1).create_service(binding, s.url(path)).SubmitCommunityReport)


def raw_checks(s, path, ctype, op, sub):
    """Requests built by hand, as the current (hard-wired) sink would send them."""
    svc_ns = "http://schemas.caldmore.co.uk/guardian/rms/intake/2019/03"
    env = ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
           '<svc:CreateCommunityReport xmlns:svc="%s"><svc:ExternalReference>%s</svc:ExternalReference>'
           '<svc:Report/></svc:CreateCommunityReport></soap:Body></soap:Envelope>' % (svc_ns, ext(1, sub)))
    r = requests.post(s.url(path), data=env, headers={"Content-Type": ctype, "SOAPAction": '"%s"' % op})
    check(r.status_code == 500 and b"faultcode" in r.content and b"SOAPAction" in r.content,
          "raw: unknown SOAPAction -> Client fault naming it")
    r = requests.post(s.url(path), data=env, headers={"Content-Type": ctype, "SOAPAction": '""'})
    check(r.status_code == 500 and b"CreateCommunityReport" in r.content, "raw: unknown body element -> Client fault")
    r = requests.post(s.url(path), data=env, headers={"Content-Type": "application/soap+xml"})
    check(r.status_code == 415, "raw: SOAP 1.2 content type on a 1.1 port -> 415")
    r = requests.post(s.url("/elsewhere"), data=env, headers={"Content-Type": ctype, "SOAPAction": '""'})
    check(r.status_code == 404, "raw: unknown path -> 404")
    r = requests.post(s.url(path), data=b"<not xml", headers={"Content-Type": ctype, "SOAPAction": '""'})
    check(r.status_code == 500 and b"well-formed" in r.content, "raw: malformed XML -> Client fault")


def modes(s, create, args_of, present, impatient):
    """drop_next, slow_next, fail_next and a small chaos run, through zeep.
    impatient: the create operation of a client whose operation timeout is 1 s."""
    # drop after commit: the call fails, the record exists
    s.control("drop_next=1")
    e = error_of(create, **args_of(1))
    check(isinstance(e, requests.exceptions.ConnectionError), "%s: drop_next closes without answer (%r)"
          % (s.dump()["shape"], type(e).__name__))
    check(present(1), "drop_next: the dropped call was committed")
    # slow then commit: a client timing out early sees nothing yet; the record appears later
    s.control("slow_next=1&ms=2500")
    t0 = time.time()
    e = error_of(impatient, **args_of(2))
    check(isinstance(e, requests.exceptions.Timeout) or isinstance(e, requests.exceptions.ConnectionError),
          "slow_next: a client with a 1 s timeout gives up (%s)" % type(e).__name__)
    waited = time.time() - t0
    check(not present(2), "slow_next: lookup during the wait answers not found (%.2f s after the call; %s)"
          % (waited, [(r["external_reference"], r["created_at"]) for r in s.dump()["records"]][-3:]))
    time.sleep(max(0, 2.5 - (time.time() - t0)))
    check(eventually(lambda: present(2)), "slow_next: the record is committed after the wait")
    # fail_next: nothing committed
    before = len(s.dump()["records"])
    for kind in ("http500", "server_fault", "http503", "http403"):
        s.control("fail_next=1&kind=%s" % kind)
        e = error_of(create, **args_of(3))
        check(e is not None, "fail_next=%s fails the call (%s)" % (kind, type(e).__name__))
    check(len(s.dump()["records"]) == before, "fail_next: nothing committed")
    s.control("fail_next=1&kind=server_fault&ops=lookup")
    n0 = s.dump()["outcomes"].get("injected_server_fault", 0)
    e = error_of(present, 1)
    check(isinstance(e, zeep.exceptions.Fault) and ("Server" in e.code or "Receiver" in e.code) or e is None,
          "fail_next with ops=lookup: the lookup fails (%r)" % e)
    check(s.dump()["outcomes"].get("injected_server_fault", 0) == n0 + 1 and present(1),
          "fail_next with ops=lookup: one lookup got the Server fault, the next is answered")
    # chaos: every outcome accounted for, records == successes + drops + slows
    s.control("reset=1")
    s.control("chaos=7&http500=0.1&server_fault=0.1&drop=0.1&slow=0.05&slow_ms=300")
    ok = 0
    for n in range(60):
        if error_of(create, **args_of(1000 + n)) is None:
            ok += 1
    d = s.dump()
    o = d["outcomes"]
    s.control("chaos=off")
    check(o.get("received") == 60, "chaos: 60 calls received (%s)" % o)
    check(len(d["records"]) == o.get("ok", 0) + o.get("dropped", 0), "chaos: records = answered + dropped")
    check(ok == o.get("ok", 0), "chaos: client successes = server ok")
    check(all(o.get(k, 0) > 0 for k in ("injected_http500", "injected_server_fault", "dropped")),
          "chaos: every fault kind occurred")


# ------------------------------------------------------------------ b. bare
def test_bare():
    wsdl = FIX / "bare" / "OccurrenceHub.wsdl"
    binding = "{urn:northmoor:occurrence-hub:wsdl:v3}IncidentSoapBinding"
    path = "/occurrence-hub/soap/IncidentPort"
    sub = str(uuid.uuid4())

    def report(n, **over):
        r = {"externalId": ext(n, sub), "revision": n, "ReportedOn": datetime.datetime(2026, 11, 27, 18, 42, 10),
             "Category": "ASB", "Title": "Group throwing stones at buses",
             "Location": {"AddressLine": ["Linthorpe Road", "Middlesbrough"], "Postcode": "TS1 3QY",
                          "Latitude": "54.574200", "Longitude": "-1.235000"},
             "Reporter": {"anonymous": False, "Name": "A Resident"},
             "Attachment": [{"fileName": "a.jpg", "mediaType": "image/jpeg", "sizeBytes": 10},
                            {"fileName": "b.mp4", "mediaType": "video/mp4", "sizeBytes": 20}]}
        r.update(over)
        return r

    with Server("bare") as s:
        svc = client(wsdl).create_service(binding, s.url(path))
        r = svc.LodgeIncident(**report(1))
        ref = r.RecordReference
        check(ref.startswith("OH-") and r.Revision == 1, "bare: create returns RecordReference (%s)" % ref)
        q = svc.QueryIncident(externalId=ext(1, sub))
        check(q is not None and q.RecordReference == ref, "bare: lookup found")
        q = svc.QueryIncident(externalId=ext(1))
        check(q is None or q.RecordReference is None, "bare: lookup not found is an empty element (%r)" % (q,))
        u = svc.AmendIncident(**report(2, Title="Updated"), _soapheaders={"reference": ref})
        check(u.RecordReference == ref and u.Revision == 2, "bare: update with the reference in a SOAP header")
        f = fault_of(svc.AmendIncident, **report(3), _soapheaders={"reference": "OH-2026-999999"})
        check(f is not None and f.detail is not None and f.detail.find(".//{*}ErrorCode").text == "4004",
              "bare: update unknown -> HubError fault")
        f = fault_of(svc.AmendIncident, **report(3))
        check(f is not None and "RecordReference" in f.message and "required" in f.message,
              "bare: update without the header -> Client fault")
        f = fault_of(svc.LodgeIncident, **report(4, Category="BURGLARY"))
        check(f is not None and "enumeration" in f.message, "bare: invalid record -> Client fault")
        d = s.dump()
        check(len(d["records"]) == 1 and len(d["records"][0]["versions"]) == 2, "bare: one record, two versions")
        check(d["records"][0]["versions"][1]["headers"] and "RecordReference" in d["records"][0]["versions"][1]["headers"][0],
              "bare: dump keeps header elements")
        # same body element for Lodge and Amend: the SOAPAction decides; none -> fault
        env = ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
               '<inc:IncidentReport xmlns:inc="urn:northmoor:occurrence-hub:incident:v3" externalId="x:1">'
               '<inc:ReportedOn>2026-11-27T18:42:10Z</inc:ReportedOn><inc:Category>ASB</inc:Category>'
               '<inc:Title>t</inc:Title></inc:IncidentReport></soap:Body></soap:Envelope>')
        r = requests.post(s.url(path), data=env, headers={"Content-Type": "text/xml", "SOAPAction": '""'})
        check(r.status_code == 500 and b"SOAPAction" in r.content, "bare: no SOAPAction on an ambiguous body -> fault")
        r = requests.post(s.url(path), data=env, headers={"Content-Type": "text/xml",
                                                          "SOAPAction": '"urn:northmoor:occurrence-hub:v3#LodgeIncident"'})
        check(r.status_code == 200 and b"RecordReference" in r.content, "bare: hand-made create by SOAPAction")
        modes(s, svc.LodgeIncident, lambda n: report(n + 100),
              lambda n: getattr(svc.QueryIncident(externalId=ext(n + 100, sub)), "RecordReference", None) is not None,
              client(wsdl, timeout=1).create_service(binding, s.url(path)).LodgeIncident)


# ------------------------------------------------------------------ c. SOAP 1.2, required header
def test_soap12_header():
    wsdl = FIX / "soap12-header" / "CaseConnectIntake.wsdl"
    ns = "{http://vantage-justice.co.uk/caseconnect/services/intake/v1}"
    sub = str(uuid.uuid4())

    def hdr(system="REPORTBRIDGE"):
        return {"CallingSystem": {"SystemId": system, "CorrelationId": str(uuid.uuid4()),
                                  "SentAt": datetime.datetime(2026, 11, 27, 18, 42, 10)}}

    def occ(**over):
        o = {"OccurrenceType": "ANTISOCIAL_BEHAVIOUR", "ReportedAt": datetime.datetime(2026, 11, 27, 18, 42, 10),
             "Summary": "Group throwing stones at buses",
             "When": {"Between": {"Start": datetime.datetime(2026, 11, 27, 18, 15)}},
             "Where": {"Address": {"Line": ["Linthorpe Road", "Middlesbrough"], "Postcode": "TS1 3QY"}},
             "Involvement": [{"role": "REPORTER", "Person": {"Forename": "Aisha", "Surname": "Khan",
                                                              "Contact": [{"Email": "a@example.org"},
                                                                          {"Telephone": "+447700900123"}]}},
                             {"role": "WITNESS", "Organisation": {"Name": "Bus company"}}]}
        o.update(over)
        return o

    with Server("soap12-header", "--system-id", "REPORTBRIDGE") as s:
        for version, binding, path in (("1.2", ns + "CaseConnectIntakeSoap12", "/caseconnect/v1/intake"),
                                       ("1.1", ns + "CaseConnectIntakeSoap11", "/caseconnect/v1/intake/soap11")):
            svc = client(wsdl).create_service(binding, s.url(path))
            src = ext(1, sub + version)
            r = svc.RecordOccurrence(SourceReference=src, Occurrence=occ(), _soapheaders=hdr())
            check(r.startswith("CC"), "soap12-header %s: create returns CaseReference (%s)" % (version, r))
            loc = svc.LocateOccurrence(SourceReference=src, _soapheaders=hdr())
            check(loc.CaseReference == r, "soap12-header %s: lookup found" % version)
            f = fault_of(svc.LocateOccurrence, SourceReference="nope:1", _soapheaders=hdr())
            want = "Sender" if version == "1.2" else "Client.RecordNotFound"
            check(f is not None and want in f.code and f.detail is not None
                  and f.detail.find(".//{*}RecordNotFound") is not None,
                  "soap12-header %s: lookup not found -> named fault RecordNotFound (%s)"
                  % (version, f and f.code))
            if version == "1.2":
                raw = fault_subcode(s.url(path), src)
                check(raw == "RecordNotFound", "soap12-header 1.2: fault Subcode svc:RecordNotFound (%s)" % raw)
            u = svc.ReviseOccurrence(CaseReference=r, SourceReference=ext(2, sub + version),
                                     Occurrence=occ(When={"At": datetime.datetime(2026, 11, 27, 18, 20)}),
                                     _soapheaders=hdr())
            check(u.CaseReference == r and u.Revision == 2, "soap12-header %s: update, reference sibling" % version)
            f = fault_of(svc.ReviseOccurrence, CaseReference="CC26/999999", SourceReference="x:1",
                         Occurrence=occ(), _soapheaders=hdr())
            check(f is not None and f.detail is not None and f.detail.find(".//{*}RecordNotFound") is not None,
                  "soap12-header %s: update unknown -> RecordNotFound" % version)
            f = fault_of(svc.RecordOccurrence, SourceReference=src, Occurrence=occ())
            check(f is not None and "CallingSystem" in f.message and "required" in f.message,
                  "soap12-header %s: call without CallingSystem header -> Client/Sender fault" % version)
            f = fault_of(svc.RecordOccurrence, SourceReference=src, Occurrence=occ(), _soapheaders=hdr("OTHER_SYS"))
            check(f is not None and "not registered" in f.message, "soap12-header %s: unknown SystemId -> fault" % version)
            f = fault_of(svc.RecordOccurrence, SourceReference=src, Occurrence=occ(When={}), _soapheaders=hdr())
            check(f is not None and "When" in f.message, "soap12-header %s: empty xs:choice -> fault" % version)
        d = s.dump()
        check(len(d["records"]) == 2 and all(len(r["versions"]) == 2 for r in d["records"]),
              "soap12-header: two records (one per SOAP version), two versions each")
        check(any("CallingSystem" in h for h in d["records"][0]["versions"][0]["headers"]),
              "soap12-header: dump keeps the CallingSystem header")
        # mustUnderstand on a header this service does not know -> MustUnderstand fault
        env = ('<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Header>'
               '<x:Unknown xmlns:x="urn:x" env:mustUnderstand="true"/></env:Header><env:Body/></env:Envelope>')
        r = requests.post(s.url("/caseconnect/v1/intake"), data=env, headers={"Content-Type": "application/soap+xml"})
        check(r.status_code == 500 and b"MustUnderstand" in r.content, "soap12-header: unknown mustUnderstand header")
        env11 = env.replace("http://www.w3.org/2003/05/soap-envelope", "http://schemas.xmlsoap.org/soap/envelope/")
        r = requests.post(s.url("/caseconnect/v1/intake"), data=env11, headers={"Content-Type": "application/soap+xml"})
        check(r.status_code == 500 and b"VersionMismatch" in r.content, "soap12-header: 1.1 envelope on 1.2 port")
        svc = client(wsdl).create_service(ns + "CaseConnectIntakeSoap12", s.url("/caseconnect/v1/intake"))
        modes(s, svc.RecordOccurrence,
              lambda n: {"SourceReference": ext(n + 100, sub), "Occurrence": occ(), "_soapheaders": hdr()},
              lambda n: error_of(svc.LocateOccurrence, SourceReference=ext(n + 100, sub), _soapheaders=hdr()) is None,
              client(wsdl, timeout=1).create_service(ns + "CaseConnectIntakeSoap12",
                                                     s.url("/caseconnect/v1/intake")).RecordOccurrence)


def fault_subcode(url, src):
    env = ('<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Header>'
           '<h:CallingSystem xmlns:h="http://vantage-justice.co.uk/caseconnect/headers/v1"><h:SystemId>REPORTBRIDGE'
           '</h:SystemId><h:CorrelationId>%s</h:CorrelationId></h:CallingSystem></env:Header><env:Body>'
           '<s:LocateOccurrence xmlns:s="http://vantage-justice.co.uk/caseconnect/services/intake/v1">'
           '<s:SourceReference>missing:%s</s:SourceReference></s:LocateOccurrence></env:Body></env:Envelope>'
           % (uuid.uuid4(), src))
    r = requests.post(url, data=env, headers={"Content-Type": 'application/soap+xml; charset=utf-8; action='
                                              '"http://vantage-justice.co.uk/caseconnect/services/intake/v1/LocateOccurrence"'})
    doc = etree.fromstring(r.content)
    v = doc.find(".//{http://www.w3.org/2003/05/soap-envelope}Subcode/{http://www.w3.org/2003/05/soap-envelope}Value")
    if r.status_code != 400 or v is None:
        return "status %d" % r.status_code
    prefix, local = v.text.split(":")
    return local if v.nsmap.get(prefix) == "http://vantage-justice.co.uk/caseconnect/services/intake/v1" else v.text


# ------------------------------------------------------------------ d. rpc/literal
def matches(result):
    """zeep unwraps a MatchList to its list of match (or None when it is empty)."""
    if result is None:
        return []
    if isinstance(result, list):
        return result
    return list(getattr(result, "match", None) or [])


def test_rpc():
    wsdl = FIX / "rpc-literal" / "KestrelGateway.wsdl"
    binding = "{urn:kestrel:kps:gateway:2}KpsGatewaySoapBinding"
    path = "/kps/services/KpsGateway"
    sub = str(uuid.uuid4())

    def entry(**over):
        e = {"logType": "ASB", "opened": datetime.datetime(2026, 11, 27, 18, 42, 10), "synopsis": "Stones at buses",
             "place": {"postcode": "TS1 3QY"},
             "subject": [{"role": "informant", "person": {"familyName": "Khan", "givenName": ["Aisha"],
                                                          "phone": ["+447700900123", "01642 000000"]}},
                         {"role": "suspect", "vehicle": {"vrm": "AB12 CDE", "colour": "red"}}]}
        e.update(over)
        return e

    with Server("rpc") as s:
        svc = client(wsdl).create_service(binding, s.url(path))
        ref = svc.createLog(entry=entry(), origin="PUBLICAPP", sourceId=ext(1, sub))
        check(ref.startswith("KPS"), "rpc: create returns logNumber (%s)" % ref)
        m = matches(svc.findLog(origin="PUBLICAPP", sourceId=ext(1, sub)))
        check(len(m) == 1 and m[0].logNumber == ref and m[0].revision == 1, "rpc: lookup found")
        m = matches(svc.findLog(origin="PUBLICAPP", sourceId=ext(1)))
        check(m == [], "rpc: lookup not found is an empty match list (%r)" % (m,))
        u = svc.amendLog(logNumber=ref, sourceId=ext(2, sub), entry=entry(place={"freeText": "bus station"}))
        check(u.logNumber == ref and u.revision == 2, "rpc: update with the reference as a part")
        f = fault_of(svc.amendLog, logNumber="KPS260000000", sourceId="x:1", entry=entry())
        check(f is not None and "KPS-404" in f.message, "rpc: update unknown -> Client fault")
        f = fault_of(svc.createLog, entry=entry(place={}), origin="PUBLICAPP", sourceId=ext(3, sub))
        check(f is not None and "place" in f.message, "rpc: invalid entry (empty xs:choice) -> Client fault")
        d = s.dump()
        check(len(d["records"]) == 1 and len(d["records"][0]["versions"]) == 2, "rpc: one record, two versions")
        check("<entry>" in d["records"][0]["versions"][0]["record"].replace(' xmlns:', ' ').split(">")[0] + ">"
              or d["records"][0]["versions"][0]["record"].startswith("<entry"), "rpc: dump keeps the entry accessor")
        modes(s, svc.createLog, lambda n: {"entry": entry(), "origin": "PUBLICAPP", "sourceId": ext(n + 100, sub)},
              lambda n: bool(matches(svc.findLog(origin="PUBLICAPP", sourceId=ext(n + 100, sub)))),
              client(wsdl, timeout=1).create_service(binding, s.url(path)).createLog)


# ------------------------------------------------------------------ public: FBI CJIS NGI User Service
def test_fbi_ngi():
    """A contract we did not write: document/literal bare, the body is a whole EBTS 10.0
    (NIEM 2.0) package from 11 schema files. zeep cannot build such a package from
    objects (NIEM augmentation and substitution groups), so the body is a published FBI
    sample; zeep still supplies the binding (SOAPAction, SOAP version, endpoint) and
    parses the answer and faults against the WSDL."""
    base = FIX / "public" / "fbi-ngi"
    wsdl = base / "wsdl" / "ngi" / "user-services" / "NGIUserService.wsdl"
    sample = base / "samples" / "Template(MPR)MissingPersonTransaction.xml"
    ITL = "{http://biometrics.nist.gov/standard/2011}"
    # niem-core.xsd declares an (unused) external entity; zeep refuses that by default
    settings = zeep.Settings(forbid_entities=False)

    def caller(s, timeout=None):
        c = zeep.Client(str(wsdl), settings=settings, transport=Transport(operation_timeout=timeout))
        svc = c.create_service("{http://ws.cjis.gov/2014/08/01/ngi/service}NGIUserServiceBinding", s.url("/address"))
        op = svc._binding.get("submitRequest")

        def submit(package):
            env = etree.Element("{http://schemas.xmlsoap.org/soap/envelope/}Envelope")
            etree.SubElement(env, "{http://schemas.xmlsoap.org/soap/envelope/}Body").append(package)
            headers = {"SOAPAction": '"%s"' % op.soapaction, "Content-Type": "text/xml; charset=utf-8"}
            reply = c.transport.post_xml(svc._binding_options["address"], env, headers)
            return svc._binding.process_reply(c, op, reply)
        return submit

    def package(tcn=None):
        root = etree.parse(str(sample)).getroot()
        if tcn is not None:
            root.find(".//{http://niem.gov/niem/biometrics/1.0}TransactionControlIdentification/"
                      "{http://niem.gov/niem/niem-core/2.0}IdentificationID").text = tcn
        return root

    with Server("fbi-ngi") as s:
        submit = caller(s)
        ncn = submit(package())
        check(isinstance(ncn, str) and ncn.startswith("E") and "366" in ncn, "fbi-ngi: submit returns an NCN (%s)" % ncn)
        submit(package())
        d = s.dump()
        check(len(d["records"]) == 2 and d["duplicates"].get("56839"), "fbi-ngi: create always creates (TCN 56839 twice)")
        bad = package()
        bad.remove(bad.find(ITL + "PackageInformationRecord"))
        f = fault_of(submit, bad)
        check(f is not None and "Client" in f.code and f.detail is not None
              and f.detail.find(".//{*}faultErrorCode").text == "INVALID_REQUEST",
              "fbi-ngi: invalid package -> NGIServicesFault INVALID_REQUEST")
        s.control("drop_next=1")
        e = error_of(submit, package("DROP-1"))
        check(isinstance(e, requests.exceptions.ConnectionError) and
              any(r["external_reference"] == "DROP-1" for r in s.dump()["records"]),
              "fbi-ngi: drop_next commits, then closes without answer")
        s.control("slow_next=1&ms=2500")
        e = error_of(caller(s, timeout=1), package("SLOW-1"))
        present = any(r["external_reference"] == "SLOW-1" for r in s.dump()["records"])
        check(isinstance(e, requests.exceptions.Timeout) and not present, "fbi-ngi: slow_next not committed at 1 s")
        check(eventually(lambda: any(r["external_reference"] == "SLOW-1" for r in s.dump()["records"])),
              "fbi-ngi: slow_next committed after the wait")


# ------------------------------------------------------------------ authentication
def test_auth():
    wsdl = FIX / "wrapped" / "GuardianIntakeService.wsdl"
    binding = "{http://schemas.caldmore.co.uk/guardian/rms/intake/2019/03}BasicHttpBinding_IIntakeService"
    path = "/Guardian/IntakeService.svc"
    rec = {"ExternalReference": ext(), "SourceSystem": "PUBLIC_APP", "ReportedDateTime": datetime.datetime(2026, 1, 1),
           "Classification": {"CategoryCode": "ASB01"}, "Summary": "s"}
    with Server("wrapped", "--wsse", "bridge:s3cret-pw", "--basic", "bridge:s3cret-pw") as s:
        def svc(wsse=None, basic=("bridge", "s3cret-pw")):
            sess = requests.Session()
            sess.auth = basic
            return client(wsdl, wsse=wsse, transport=Transport(session=sess)).create_service(binding, s.url(path))

        for digest in (False, True):
            r = svc(UsernameToken("bridge", "s3cret-pw", use_digest=digest)).SubmitCommunityReport(CommunityReport=rec)
            check(r.RmsReference.startswith("GRD/"), "auth: WS-Security %s accepted" % ("digest" if digest else "text"))
            f = fault_of(svc(UsernameToken("bridge", "wrong", use_digest=digest)).SubmitCommunityReport,
                         CommunityReport=rec)
            check(f is not None and f.code.endswith("FailedAuthentication"),
                  "auth: wrong password (%s) -> wsse:FailedAuthentication (%s)"
                  % ("digest" if digest else "text", f and f.code))
        f = fault_of(svc().SubmitCommunityReport, CommunityReport=rec)
        check(f is not None and f.code.endswith("InvalidSecurity"), "auth: no token -> wsse:InvalidSecurity")
        e = error_of(svc(UsernameToken("bridge", "s3cret-pw"), basic=("bridge", "wrong")).SubmitCommunityReport,
                     CommunityReport=rec)
        check(isinstance(e, zeep.exceptions.TransportError) and e.status_code == 401, "auth: basic wrong -> HTTP 401")
        # a replayed digest token (same nonce) is refused
        token = UsernameToken("bridge", "s3cret-pw", use_digest=True, nonce="0123456789abcdef",
                              created=datetime.datetime.now(datetime.timezone.utc))
        first = fault_of(svc(token).SubmitCommunityReport, CommunityReport=rec)
        again = fault_of(svc(token).SubmitCommunityReport, CommunityReport=rec)
        check(first is None and again is not None and again.code.endswith("FailedAuthentication"),
              "auth: replayed digest nonce -> FailedAuthentication")
        d = s.dump()
        check(d["outcomes"].get("auth_failed", 0) == 4 and d["outcomes"].get("http401") == 1,
              "auth: failures counted (%s)" % d["outcomes"])
        check(len(d["records"]) == 3, "auth: only authenticated calls committed")
    # SOAP 1.2: the WS-Security fault is Sender + Subcode wsse:FailedAuthentication, HTTP 400
    with Server("soap12-header", "--wsse", "bridge:s3cret-pw") as s:
        ns = "{http://vantage-justice.co.uk/caseconnect/services/intake/v1}"
        wsdl12 = FIX / "soap12-header" / "CaseConnectIntake.wsdl"
        hdr = {"CallingSystem": {"SystemId": "REPORTBRIDGE", "CorrelationId": str(uuid.uuid4())}}
        for pw, ok in (("s3cret-pw", True), ("wrong", False)):
            svc = client(wsdl12, wsse=UsernameToken("bridge", pw, use_digest=True)).create_service(
                ns + "CaseConnectIntakeSoap12", s.url("/caseconnect/v1/intake"))
            f = fault_of(svc.LocateOccurrence, SourceReference="x:1", _soapheaders=hdr)
            if ok:
                check(f is not None and "RecordNotFound" in etree.tostring(f.detail).decode(),
                      "auth 1.2: digest accepted (the call reaches the operation)")
            else:
                check(f is not None and f.code.endswith("Sender") and f.subcodes
                      and f.subcodes[0].localname == "FailedAuthentication",
                      "auth 1.2: wrong password -> Sender / wsse:FailedAuthentication (%s %s)"
                      % (f and f.code, f and f.subcodes))


# ------------------------------------------------------------------ example envelopes
EXAMPLES = [
    # shape, wsdl, examples (create, update, lookup), port path, placeholder reference, reference pattern
    ("wrapped", "wrapped/GuardianIntakeService.wsdl", "wrapped/examples",
     ["SubmitCommunityReport", "UpdateCommunityReport", "FindByExternalReference"], "", "GRD/26/000001",
     r"GRD/[0-9]{2}/[0-9]{6}"),
    ("bare", "bare/OccurrenceHub.wsdl", "bare/examples", ["LodgeIncident", "AmendIncident", "QueryIncident"], "",
     "OH-2026-000001", r"OH-[0-9]{4}-[0-9]{6}"),
    ("soap12-header", "soap12-header/CaseConnectIntake.wsdl", "soap12-header/examples",
     ["RecordOccurrence", "ReviseOccurrence", "LocateOccurrence"], ".soap12", "CC26/000001", r"CC[0-9]{2}/[0-9]{6}"),
    ("soap12-header", "soap12-header/CaseConnectIntake.wsdl", "soap12-header/examples",
     ["RecordOccurrence", "ReviseOccurrence", "LocateOccurrence"], ".soap11", "CC26/000001", r"CC[0-9]{2}/[0-9]{6}"),
    ("rpc", "rpc-literal/KestrelGateway.wsdl", "rpc-literal/examples", ["createLog", "amendLog", "findLog"], "",
     "KPS260000001", r"KPS[0-9]{9}"),
]


def test_examples():
    """The hand-readable example envelopes under tests/fixtures/wsdl/*/examples are valid:
    posted as they are (the update's reference replaced by the one the create returned),
    each is answered 200 and the lookup finds the record."""
    import re
    sys.path.insert(0, str(HERE))
    import wsdl_contract as wc
    for shape, wsdl, folder, ops, suffix, placeholder, pattern in EXAMPLES:
        contract = wc.Contract(str(FIX / wsdl))
        version = "1.1" if suffix != ".soap12" else "1.2"
        port = [p for p in contract.ports if p.version == version][0]
        with Server(shape) as s:
            ref = None
            for op_name in ops:
                op = [o for o in port.operations if o.name == op_name][0]
                body = (FIX / folder / ("%s%s.request.xml" % (op_name, suffix))).read_text()
                if ref:
                    body = body.replace(placeholder, ref)
                headers = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '"%s"' % op.soap_action}
                if version == "1.2":
                    headers = {"Content-Type": 'application/soap+xml; charset=utf-8; action="%s"' % op.soap_action}
                r = requests.post(s.url(port.path), data=body.encode(), headers=headers)
                found = re.search(pattern, r.text)
                check(r.status_code == 200 and found, "examples %s%s: %s answered 200 with a reference (%d %s)"
                      % (shape, suffix, op_name, r.status_code, r.text[:300] if r.status_code != 200 else ""))
                if ref is None and found:
                    ref = found.group(0)
            d = s.dump()
            check(len(d["records"]) == 1 and len(d["records"][0]["versions"]) == 2,
                  "examples %s%s: one record, two versions" % (shape, suffix))


SHAPE_TESTS = {"wrapped": test_wrapped, "bare": test_bare, "soap12-header": test_soap12_header, "rpc": test_rpc,
               "fbi-ngi": test_fbi_ngi, "auth": test_auth, "examples": test_examples}


def run(tests):
    """Runs the named tests (all without names); prints 'N passed, N failed'; exit status."""
    names = [a for a in sys.argv[1:] if not a.startswith("-")] or list(tests)
    unknown = [n for n in names if n not in tests]
    if unknown:
        print("unknown test(s) %s; known: %s" % (", ".join(unknown), " ".join(tests)))
        return 2
    # requests / zeep timeouts for the slow test: a 1 s client timeout
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    for name in names:
        t0 = time.time()
        try:
            tests[name]()
        except Exception as e:  # noqa: BLE001
            import traceback
            traceback.print_exc()
            check(False, "%s: unexpected %s: %s" % (name, type(e).__name__, e))
        print("%-14s done in %.1f s" % (name, time.time() - t0), flush=True)
    print("%d passed, %d failed" % (passed, len(failed)))
    return 1 if failed else 0


def all_tests():
    """These shapes, then the spyne-served ones (selftest_spyne_servers.py), sharing counters."""
    sys.modules.setdefault("selftest_wsdl_servers", sys.modules[__name__])
    sys.path.insert(0, str(HERE))
    import selftest_spyne_servers
    return {**SHAPE_TESTS, **selftest_spyne_servers.TESTS}


def main():
    return run(all_tests())


if __name__ == "__main__":
    sys.exit(main())
