#!/usr/bin/python3
"""A loopback HTTP(S) server that misbehaves on demand, for the net/soap tests.

Usage: faulty_server.py PORT [--cert C --key K [--client-ca CA]]
PORT 0 picks a free port; the chosen port is printed on the first line of stdout.

The first path segment of a POST chooses the behaviour (query parameters tune it):
  /ok            200 SOAP response, LegacyReference OK-<n>  (?soap=12 for SOAP 1.2)
  /hang          read the request, then never answer (until ?ms=, default 60000)
  /reset         read the request, then reset the connection (RST)
  /drop          read the request, then close the connection without answering
  /500           500 with a plain text body
  /fault-client  SOAP fault, Client (1.1, HTTP 500) or Sender (1.2, HTTP 400)
  /fault-server  SOAP fault, Server (1.1) or Receiver (1.2), HTTP 500
  /slow          200, body dripped in 10 pieces over ?ms= (default 2000)
  /429, /503     that status with Retry-After: ?after= (default 7)
  /400           400 with a plain text body
  /xxe           200 whose body declares an external entity (file:///etc/passwd)
  /laughs        200 whose body is a billion-laughs document
  /oversize      200 with ?bytes= (default 8 MiB) of XML
  /capture       200 like /ok, and remembers the request (GET /last returns it)
  /hostile-ref   200 whose LegacyReference holds CR/LF, C1 and bidi controls and
                 ?bytes= (default 100000) more characters
  /hostile-fault Client fault whose faultstring holds a line feed, CR, a C1 CSI
                 and a bidi override (a forged line for `status`)
The SOAP version of faults and /ok follows the request's Content-Type.
GET /count returns {"<mode>": requests received, ...}; GET /last the last captured
request as JSON (headers, body, client certificate subject).
"""
import json
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

S11 = "http://schemas.xmlsoap.org/soap/envelope/"
S12 = "http://www.w3.org/2003/05/soap-envelope"
SVC = "urn:reportbridge:rms:service:1"

counts = {}
last = {}
lock = threading.Lock()
serial = [0]


def envelope(ns, inner):
    return ('<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="%s"><soap:Body>%s'
            '</soap:Body></soap:Envelope>' % (ns, inner)).encode()


def ok_body(ns, ref):
    return envelope(ns, '<svc:CreateCommunityReportResponse xmlns:svc="%s"><svc:LegacyReference>%s'
                    '</svc:LegacyReference></svc:CreateCommunityReportResponse>' % (SVC, ref))


def fault_body(ns, client):
    if ns == S11:
        code = "soap:Client" if client else "soap:Server"
        return envelope(ns, '<soap:Fault><faultcode>%s</faultcode><faultstring>%s</faultstring>'
                        '</soap:Fault>' % (code, "bad request data" if client else "database down"))
    code = "soap:Sender" if client else "soap:Receiver"
    return envelope(ns, '<soap:Fault><soap:Code><soap:Value>%s</soap:Value></soap:Code><soap:Reason>'
                    '<soap:Text xml:lang="en">%s</soap:Text></soap:Reason></soap:Fault>'
                    % (code, "bad request data" if client else "database down"))


XXE = ('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       '<soap:Envelope xmlns:soap="%s"><soap:Body><svc:CreateCommunityReportResponse xmlns:svc="%s">'
       '<svc:LegacyReference>&xxe;</svc:LegacyReference></svc:CreateCommunityReportResponse>'
       '</soap:Body></soap:Envelope>' % (S11, SVC)).encode()

LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + ''.join('<!ENTITY lol%d "%s">' % (i, ('&lol%s;' % ('' if i == 1 else i - 1)) * 10) for i in range(1, 10))
          + ']><soap:Envelope xmlns:soap="%s"><soap:Body><svc:CreateCommunityReportResponse xmlns:svc="%s">'
          '<svc:LegacyReference>&lol9;</svc:LegacyReference></svc:CreateCommunityReportResponse>'
          '</soap:Body></soap:Envelope>' % (S11, SVC)).encode()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="text/xml; charset=utf-8", extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = urlparse(self.path).path
        with lock:
            data = json.dumps(counts if path == "/count" else last).encode()
        self.reply(200, data, "application/json")

    def do_POST(self):
        url = urlparse(self.path)
        mode = url.path.strip("/").split("/")[0]
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        ctype = self.headers.get("Content-Type", "")
        ns = S12 if "application/soap+xml" in ctype or q.get("soap") == "12" else S11
        rtype = "application/soap+xml; charset=utf-8" if ns == S12 else "text/xml; charset=utf-8"
        with lock:
            counts[mode] = counts.get(mode, 0) + 1
            serial[0] += 1
            n = serial[0]
        if mode in ("ok", "capture"):
            if mode == "capture":
                cert = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
                with lock:
                    last.clear()
                    last.update({"headers": dict(self.headers.items()), "body": body.decode("utf-8", "replace"),
                                 "client_subject": dict(x[0] for x in cert["subject"]) if cert else None})
            self.reply(200, ok_body(ns, "OK-%d" % n), rtype)
        elif mode == "hang":
            time.sleep(int(q.get("ms", "60000")) / 1000)
            self.close_connection = True
        elif mode == "reset":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            raw = self.connection
            if isinstance(raw, ssl.SSLSocket):
                raw = socket.socket(fileno=raw.detach())
            raw.close()
        elif mode == "drop":
            self.close_connection = True
        elif mode == "500":
            self.reply(500, b"internal error")
        elif mode == "400":
            self.reply(400, b"bad request")
        elif mode in ("fault-client", "fault-server"):
            client = mode == "fault-client"
            self.reply(400 if (client and ns == S12) else 500, fault_body(ns, client), rtype)
        elif mode == "slow":
            payload = ok_body(ns, "SLOW-%d" % n)
            self.send_response(200)
            self.send_header("Content-Type", rtype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.flush()
            piece = (len(payload) + 9) // 10
            for i in range(0, len(payload), piece):
                time.sleep(int(q.get("ms", "2000")) / 10000)
                self.wfile.write(payload[i:i + piece])
                self.wfile.flush()
        elif mode in ("429", "503"):
            self.reply(int(mode), b"slow down", "text/plain", [("Retry-After", q.get("after", "7"))])
        elif mode == "xxe":
            self.reply(200, XXE)
        elif mode == "laughs":
            self.reply(200, LAUGHS)
        elif mode == "hostile-ref":
            tail = "R" * int(q.get("bytes", "100000"))
            ref = "CR/%d&#13;&#10;Injected: forged line\u009b31m\u202e%s" % (n, tail)
            self.reply(200, ok_body(ns, ref), rtype)
        elif mode == "hostile-fault":
            text = "bad data&#10;item 999  rms  forged v1  delivered&#13;\u009b2J\u202eevil"
            body = envelope(S11, '<soap:Fault><faultcode>soap:Client</faultcode><faultstring>%s</faultstring>'
                            '</soap:Fault>' % text)
            self.reply(500, body, "text/xml; charset=utf-8")
        elif mode == "oversize":
            size = int(q.get("bytes", str(8 << 20)))
            self.reply(200, b"<a>" + b"x" * size + b"</a>")
        else:
            self.reply(404, b"unknown mode")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    args = sys.argv[1:]
    port = int(args[0])
    opts = dict(zip(args[1::2], args[2::2]))
    server = Server(("127.0.0.1", port), Handler)
    if "--cert" in opts:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(opts["--cert"], opts["--key"])
        if "--client-ca" in opts:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(opts["--client-ca"])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
