#!/usr/bin/python3
"""The RMS SOAP service of schemas/rms_service.wsdl, on spyne, for the SOAP sink tests.

Usage: rms_spyne_server.py PORT [--basic USER:PASSWORD] [--wsse USER:PASSWORD]
                                [--xsd schemas/rms_community_report.xsd]
PORT 0 picks a free port; the chosen port is printed on the first line of stdout.

Operations (document/literal, namespace urn:reportbridge:rms:service:1), SOAP 1.1
(Content-Type text/xml) and SOAP 1.2 (application/soap+xml), same endpoint /rms:
  CreateCommunityReport(ExternalReference, Report) -> LegacyReference
      always creates a new record (as a real legacy system would, so a duplicate
      delivery shows up as two records)
  UpdateCommunityReport(LegacyReference, ExternalReference, Report) -> LegacyReference
      Client fault when the legacy reference is unknown
  FindByExternalReference(ExternalReference) -> Found, LegacyReference
--basic requires HTTP basic auth (401 otherwise); --wsse requires a WS-Security
UsernameToken (PasswordText or PasswordDigest) in the SOAP header (Client fault
otherwise); --xsd validates each Report's document (Client fault when invalid).

Control (plain HTTP):
  GET  /dump               {"records": [...], "calls": {...}} as JSON
  POST /control?drop_next=N   the next N SOAP calls are carried out, then the
                              connection is closed without an answer (in doubt)
"""
import base64
import datetime
import hashlib
import io
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from lxml import etree
from spyne import AnyXml, Application, Boolean, Fault, ServiceBase, Unicode, rpc
from spyne.protocol.soap import Soap11, Soap12
from spyne.server.wsgi import WsgiApplication

NS = "urn:reportbridge:rms:service:1"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DIGEST = ("http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
          "#PasswordDigest")

lock = threading.Lock()
records = []         # {"legacy_reference", "versions": [{"external_reference", "operation", "xml"}]}
by_external = {}     # external reference -> legacy reference
calls = {"create": 0, "update": 0, "find": 0}
control = {"drop_next": 0}
schema = [None]


def report_xml(report):
    if report is None:
        raise Fault("Client.Invalid", "Report is missing")
    doc = report  # spyne hands over the Report's child element
    text = etree.tostring(doc, encoding="unicode")
    if schema[0] is not None and not schema[0].validate(doc):
        raise Fault("Client.Invalid", str(schema[0].error_log.last_error))
    return text


class RmsService(ServiceBase):
    @rpc(Unicode(min_occurs=1), AnyXml(min_occurs=1), _returns=Unicode,
         _out_variable_name="LegacyReference", _body_style="wrapped")
    def CreateCommunityReport(ctx, ExternalReference, Report):
        xml = report_xml(Report)
        with lock:
            calls["create"] += 1
            ref = "RMS-26-%06d" % (len(records) + 1)
            records.append({"legacy_reference": ref, "versions": [
                {"external_reference": ExternalReference, "operation": "create", "xml": xml}]})
            by_external[ExternalReference] = ref
        return ref

    @rpc(Unicode(min_occurs=1), Unicode(min_occurs=1), AnyXml(min_occurs=1), _returns=Unicode,
         _out_variable_name="LegacyReference", _body_style="wrapped")
    def UpdateCommunityReport(ctx, LegacyReference, ExternalReference, Report):
        xml = report_xml(Report)
        with lock:
            calls["update"] += 1
            rec = next((r for r in records if r["legacy_reference"] == LegacyReference), None)
            if rec is None:
                raise Fault("Client.NotFound", "no record %s" % LegacyReference)
            rec["versions"].append({"external_reference": ExternalReference, "operation": "update", "xml": xml})
            by_external[ExternalReference] = LegacyReference
        return LegacyReference

    @rpc(Unicode(min_occurs=1), _returns=(Boolean, Unicode),
         _out_variable_names=("Found", "LegacyReference"), _body_style="wrapped")
    def FindByExternalReference(ctx, ExternalReference):
        with lock:
            calls["find"] += 1
            ref = by_external.get(ExternalReference)
        return (ref is not None, ref)


def make_app(protocol):
    app = Application([RmsService], tns=NS, name="RmsService",
                      in_protocol=protocol(validator="lxml"), out_protocol=protocol())
    return WsgiApplication(app)


apps = {"11": make_app(Soap11), "12": make_app(Soap12)}
settings = {}


def wsse_ok(body):
    user, password = settings["wsse"].split(":", 1)
    try:
        doc = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError:
        return False
    token = doc.find(".//{%s}Security/{%s}UsernameToken" % (WSSE, WSSE))
    if token is None or token.findtext("{%s}Username" % WSSE) != user:
        return False
    pw = token.find("{%s}Password" % WSSE)
    if pw is None:
        return False
    if pw.get("Type") == DIGEST:
        nonce = token.findtext("{%s}Nonce" % WSSE) or ""
        created = token.findtext("{%s}Created" % WSU) or ""
        try:
            when = datetime.datetime.strptime(created, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            return False
        if abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) > 300:
            return False
        expect = base64.b64encode(hashlib.sha1(base64.b64decode(nonce) + created.encode()
                                               + password.encode()).digest()).decode()
        return pw.text == expect
    return pw.text == password


def fault(version, text):
    if version == "11":
        return ('<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault>'
                '<faultcode>soap:Client.Authentication</faultcode><faultstring>%s</faultstring>'
                '</soap:Fault></soap:Body></soap:Envelope>' % text).encode(), 500
    return ('<soap:Envelope xmlns:soap="http://www.w3.org/2003/05/soap-envelope"><soap:Body><soap:Fault>'
            '<soap:Code><soap:Value>soap:Sender</soap:Value></soap:Code><soap:Reason><soap:Text xml:lang="en">'
            '%s</soap:Text></soap:Reason></soap:Fault></soap:Body></soap:Envelope>' % text).encode(), 400


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        with lock:
            data = json.dumps({"records": records, "calls": calls}).encode()
        self.reply(200, data, "application/json")

    def do_POST(self):
        url = urlparse(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if url.path == "/control":
            q = parse_qs(url.query)
            with lock:
                control["drop_next"] = int(q.get("drop_next", ["0"])[0])
            self.reply(200, b"{}", "application/json")
            return
        ctype = self.headers.get("Content-Type", "")
        version = "12" if "application/soap+xml" in ctype else "11"
        rtype = "application/soap+xml; charset=utf-8" if version == "12" else "text/xml; charset=utf-8"
        if "basic" in settings:
            expect = "Basic " + base64.b64encode(settings["basic"].encode()).decode()
            if self.headers.get("Authorization") != expect:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="rms"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        if "wsse" in settings and not wsse_ok(body):
            data, status = fault(version, "authentication failed")
            self.reply(status, data, rtype)
            return
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": "/rms", "SCRIPT_NAME": "", "QUERY_STRING": "",
            "CONTENT_TYPE": ctype, "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr, "wsgi.url_scheme": "http", "wsgi.version": (1, 0),
            "wsgi.multithread": True, "wsgi.multiprocess": False, "wsgi.run_once": False,
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_SOAPACTION": self.headers.get("SOAPAction", ""),
        }
        result = {}

        def start_response(status, headers, exc_info=None):
            result["status"] = int(status.split()[0])
            return lambda data: None

        data = b"".join(apps[version](environ, start_response))
        with lock:
            drop = control["drop_next"] > 0
            if drop:
                control["drop_next"] -= 1
        if drop:
            self.close_connection = True
            return
        self.reply(result.get("status", 500), data, rtype)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    args = sys.argv[1:]
    port = int(args[0])
    opts = dict(zip(args[1::2], args[2::2]))
    if "--basic" in opts:
        settings["basic"] = opts["--basic"]
    if "--wsse" in opts:
        settings["wsse"] = opts["--wsse"]
    if "--xsd" in opts:
        schema[0] = etree.XMLSchema(etree.parse(opts["--xsd"]))
    server = Server(("127.0.0.1", port), Handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
