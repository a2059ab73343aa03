#!/usr/bin/python3
"""A SOAP endpoint driven by a WSDL 1.1 file, for the legacy-system test servers.

The WSDL file is the contract: this module reads its services, ports, bindings
(SOAP 1.1 and 1.2; document/literal wrapped and bare, rpc/literal), operations,
SOAPActions, header parts and faults, compiles every schema it names (wsdl:types,
xs:import / xs:include of local files, wsdl:import) into one lxml XMLSchema, and
then for each HTTP request:

  - checks Content-Type against the port's SOAP version (415 otherwise) and the
    envelope namespace (VersionMismatch fault otherwise);
  - finds the operation by SOAPAction and body element (Client fault when the two
    disagree, or when neither identifies one operation);
  - faults MustUnderstand on a mustUnderstand header it does not understand;
  - validates every body part and header part against the schema set (Client /
    Sender fault with the validator's message when invalid);
  - renders the handler's answer into the output message and validates it too,
    so a test server can never answer outside its own contract.

Nothing here is specific to one legacy system; legacy_rms_server.py supplies the
behaviour (records, references, faults) per contract.
"""
import copy
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlparse

from lxml import etree

WSDL = "http://schemas.xmlsoap.org/wsdl/"
SOAP11_BIND = "http://schemas.xmlsoap.org/wsdl/soap/"
SOAP12_BIND = "http://schemas.xmlsoap.org/wsdl/soap12/"
ENV11 = "http://schemas.xmlsoap.org/soap/envelope/"
ENV12 = "http://www.w3.org/2003/05/soap-envelope"
XS = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XML_NS = "http://www.w3.org/XML/1998/namespace"

ENV_OF = {"1.1": ENV11, "1.2": ENV12}
CTYPE_OF = {"1.1": "text/xml", "1.2": "application/soap+xml"}


def secure_parser():
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                           remove_blank_text=False, load_dtd=False)


class ContractError(Exception):
    """The WSDL (or a schema it names) cannot be used: the message says where."""


class SoapFault(Exception):
    """A SOAP fault to answer.

    code:      'Client' | 'Server' | 'VersionMismatch' | 'MustUnderstand'
               (SOAP 1.2: Sender / Receiver / VersionMismatch / MustUnderstand)
    string:    faultstring / Reason text
    subcode:   optional (namespace, local) QName: SOAP 1.2 Subcode; in SOAP 1.1 it
               replaces the faultcode when its namespace is not the envelope's
               (WS-Security style, e.g. wsse:FailedAuthentication)
    dotted:    optional SOAP 1.1 dotted suffix, e.g. 'NotFound' -> soap:Client.NotFound
    detail:    list of lxml elements for <detail> / <Detail>
    """

    def __init__(self, code, string, subcode=None, dotted=None, detail=None, http_status=None):
        super().__init__(string)
        self.code = code
        self.string = string
        self.subcode = subcode
        self.dotted = dotted
        self.detail = detail or []
        self.http_status = http_status
        self.operation = None


class HttpError(Exception):
    def __init__(self, status, text, headers=()):
        super().__init__(text)
        self.status = status
        self.text = text
        self.headers = list(headers)


def qname(el_or_doc, text):
    """Resolve a prefixed QName attribute value in the scope of an element."""
    if text is None:
        return None
    text = text.strip()
    if ":" in text:
        prefix, local = text.split(":", 1)
        ns = el_or_doc.nsmap.get(prefix)
        if ns is None:
            raise ContractError("%s:%s: prefix '%s' of '%s' is not declared"
                                % (el_or_doc.base, el_or_doc.sourceline, prefix, text))
        return (ns, local)
    return (el_or_doc.nsmap.get(None, ""), text)


def clark(q):
    return "{%s}%s" % q if q[0] else q[1]


def is_remote(location):
    return bool(re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", location)) and not location.startswith("file:")


class Part:
    def __init__(self, name, element=None, type_=None):
        self.name = name
        self.element = element  # (ns, local) or None
        self.type = type_       # (ns, local) or None


class Message:
    def __init__(self, name, parts):
        self.name = name
        self.parts = parts  # list of Part

    def part(self, name):
        for p in self.parts:
            if p.name == name:
                return p
        raise ContractError("message %s has no part %s" % (self.name, name))


class HeaderSpec:
    def __init__(self, message, part, required=True):
        self.message = message
        self.part = part
        self.required = required


class IoSpec:
    """One direction (input or output) of a binding operation."""

    def __init__(self, message, body_parts, headers, namespace):
        self.message = message        # Message or None (one-way output)
        self.body_parts = body_parts  # list of Part in the body
        self.headers = headers        # list of HeaderSpec
        self.namespace = namespace    # soap:body namespace (rpc)


class Operation:
    def __init__(self, name, style, soap_action, action_required, input_, output, faults):
        self.name = name
        self.style = style            # 'document' | 'rpc'
        self.soap_action = soap_action
        self.action_required = action_required
        self.input = input_
        self.output = output          # IoSpec or None for one-way
        self.faults = faults          # {fault name: Part}

    def body_signature(self):
        if self.style == "rpc":
            return (self.input.namespace or "", self.name)
        if self.input.body_parts:
            return self.input.body_parts[0].element
        return None


class Port:
    def __init__(self, name, binding_name, version, address, operations):
        self.name = name
        self.binding_name = binding_name  # (ns, local)
        self.version = version
        self.address = address
        u = urlparse(address)
        # a placeholder address (e.g. location="address") is served at /<placeholder>
        self.path = (u.path or "/") if u.scheme else "/" + address.lstrip("/")
        self.operations = operations      # list of Operation


class Contract:
    def __init__(self, wsdl_path, schema_catalog=None):
        self.path = Path(wsdl_path).resolve()
        self.catalog = dict(schema_catalog or {})  # namespace -> local file (for remote-only imports)
        self.messages = {}
        self.port_types = {}
        self.bindings = {}
        self.services = {}
        self.inline_schemas = []    # (schema element, base dir)
        self.schema_files = []      # (namespace, path) from wsdl:import of an XSD
        self.tns = None
        self._seen = set()
        self._load(self.path, top=True)
        self.ports = self._build_ports()
        self.schema = self._compile_schemas()
        self.lock = threading.Lock()

    # ---------------------------------------------------------------- loading
    def _load(self, path, top=False):
        if path in self._seen:
            return
        self._seen.add(path)
        try:
            doc = etree.parse(str(path), secure_parser())
        except (OSError, etree.XMLSyntaxError) as e:
            raise ContractError("%s: %s" % (path, e))
        root = doc.getroot()
        if root.tag == "{%s}schema" % XS:   # wsdl:import of a schema document
            self.schema_files.append((root.get("targetNamespace", ""), path))
            return
        if root.tag != "{%s}definitions" % WSDL:
            raise ContractError("%s:%s: not a WSDL 1.1 definitions element" % (path, root.sourceline))
        tns = root.get("targetNamespace", "")
        if top:
            self.tns = tns
        for imp in root.findall("{%s}import" % WSDL):
            loc = imp.get("location")
            if not loc:
                continue
            if is_remote(loc):
                ns = imp.get("namespace", "")
                if ns in self.catalog:
                    self.schema_files.append((ns, Path(self.catalog[ns]).resolve()))
                    continue
                raise ContractError("%s:%s: wsdl:import of a remote location %s (no network here; "
                                    "give a local copy with --schema-catalog)" % (path, imp.sourceline, loc))
            self._load((path.parent / loc).resolve())
        for types in root.findall("{%s}types" % WSDL):
            for schema in types.findall("{%s}schema" % XS):
                self.inline_schemas.append((schema, path.parent))
        for m in root.findall("{%s}message" % WSDL):
            parts = []
            for p in m.findall("{%s}part" % WSDL):
                parts.append(Part(p.get("name"), qname(p, p.get("element")) if p.get("element") else None,
                                  qname(p, p.get("type")) if p.get("type") else None))
            self.messages[(tns, m.get("name"))] = Message(m.get("name"), parts)
        for pt in root.findall("{%s}portType" % WSDL):
            ops = {}
            for op in pt.findall("{%s}operation" % WSDL):
                inp = op.find("{%s}input" % WSDL)
                out = op.find("{%s}output" % WSDL)
                faults = {f.get("name"): qname(f, f.get("message")) for f in op.findall("{%s}fault" % WSDL)}
                ops[op.get("name")] = {
                    "input": qname(inp, inp.get("message")) if inp is not None else None,
                    "output": qname(out, out.get("message")) if out is not None else None,
                    "faults": faults}
            self.port_types[(tns, pt.get("name"))] = ops
        for b in root.findall("{%s}binding" % WSDL):
            self.bindings[(tns, b.get("name"))] = b
        for s in root.findall("{%s}service" % WSDL):
            self.services[(tns, s.get("name"))] = s

    def _message(self, q):
        if q not in self.messages:
            raise ContractError("message %s is not defined" % clark(q))
        return self.messages[q]

    def _io(self, bind_io, message, version_ns, style, op_name):
        if message is None:
            return None
        body = bind_io.find("{%s}body" % version_ns) if bind_io is not None else None
        if body is not None and body.get("use", "literal") != "literal":
            raise ContractError("operation %s: use=\"%s\" (only literal is supported)" % (op_name, body.get("use")))
        header_parts = set()
        headers = []
        if bind_io is not None:
            for h in bind_io.findall("{%s}header" % version_ns):
                msg = self._message(qname(h, h.get("message")))
                part = msg.part(h.get("part"))
                headers.append(HeaderSpec(msg, part))
                if msg is message:
                    header_parts.add(part.name)
        if body is not None and body.get("parts") is not None:
            names = body.get("parts").split()
            body_parts = [message.part(n) for n in names]
        else:
            body_parts = [p for p in message.parts if p.name not in header_parts]
        if style == "document":
            for p in body_parts:
                if p.element is None:
                    raise ContractError("operation %s: document-style part '%s' has type=, not element= "
                                        "(not WS-I conformant; not supported)" % (op_name, p.name))
        namespace = body.get("namespace") if body is not None else None
        return IoSpec(message, body_parts, headers, namespace)

    def _build_ports(self):
        ports = []
        for sq, svc in self.services.items():
            for port in svc.findall("{%s}port" % WSDL):
                bq = qname(port, port.get("binding"))
                if bq not in self.bindings:
                    raise ContractError("port %s: binding %s is not defined" % (port.get("name"), clark(bq)))
                b = self.bindings[bq]
                version_ns = None
                for ns, ver in ((SOAP11_BIND, "1.1"), (SOAP12_BIND, "1.2")):
                    if b.find("{%s}binding" % ns) is not None:
                        version_ns, version = ns, ver
                if version_ns is None:
                    continue  # an HTTP or other non-SOAP binding: not served
                addr = port.find("{%s}address" % version_ns)
                address = addr.get("location") if addr is not None else "/"
                default_style = b.find("{%s}binding" % version_ns).get("style", "document")
                pt = self.port_types.get(qname(b, b.get("type")))
                if pt is None:
                    raise ContractError("binding %s: portType %s is not defined" % (b.get("name"), b.get("type")))
                ops = []
                for bop in b.findall("{%s}operation" % WSDL):
                    name = bop.get("name")
                    if name not in pt:
                        raise ContractError("binding %s: operation %s is not in the portType" % (b.get("name"), name))
                    so = bop.find("{%s}operation" % version_ns)
                    style = (so.get("style") if so is not None and so.get("style") else default_style)
                    action = so.get("soapAction", "") if so is not None else ""
                    action_required = (so.get("soapActionRequired", "true") != "false") if so is not None else True
                    abstract = pt[name]
                    inp = self._io(bop.find("{%s}input" % WSDL), self._message(abstract["input"]),
                                   version_ns, style, name)
                    out = self._io(bop.find("{%s}output" % WSDL),
                                   self._message(abstract["output"]) if abstract["output"] else None,
                                   version_ns, style, name)
                    faults = {}
                    for fname, fq in abstract["faults"].items():
                        fm = self._message(fq)
                        if fm.parts:
                            faults[fname] = fm.parts[0]
                    ops.append(Operation(name, style, action, action_required, inp, out, faults))
                ports.append(Port(port.get("name"), bq, version, address, ops))
        if not ports:
            raise ContractError("%s: no SOAP port in any wsdl:service" % self.path)
        return ports

    # ---------------------------------------------------------------- schemas
    def _compile_schemas(self):
        tmp = Path(tempfile.mkdtemp(prefix="wsdl-contract-"))
        try:
            return self._compile_in(tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _compile_in(self, tmp):
        by_ns = {}
        docs = []
        for i, (schema, base) in enumerate(self.inline_schemas):
            tns = schema.get("targetNamespace", "")
            # a standalone copy that keeps every namespace declaration in scope in the WSDL
            # (QName-valued attributes such as type="tns:X" use them)
            root = etree.Element(schema.tag, attrib=dict(schema.attrib), nsmap=schema.nsmap)
            root.text = schema.text
            for child in schema:
                root.append(copy.deepcopy(child))
            path = tmp / ("inline-%d.xsd" % i)
            docs.append((root, base, path))
            by_ns.setdefault(tns, []).append(path)
        for ns, path in self.schema_files:
            by_ns.setdefault(ns, []).append(path)
        synth = self._rpc_schemas()
        for j, (ns, root) in enumerate(synth):
            path = tmp / ("rpc-%d.xsd" % j)
            docs.append((root, self.path.parent, path))
            by_ns.setdefault(ns, []).append(path)

        agg = {}
        for k, (ns, paths) in enumerate(sorted(by_ns.items())):
            if len(paths) == 1:
                agg[ns] = paths[0]
            else:
                a = etree.Element("{%s}schema" % XS, nsmap={"xs": XS})
                if ns:
                    a.set("targetNamespace", ns)
                for p in paths:
                    etree.SubElement(a, "{%s}include" % XS, schemaLocation=Path(p).as_uri())
                agg[ns] = tmp / ("ns-%d.xsd" % k)
                etree.ElementTree(a).write(str(agg[ns]))
        for ns, path in self.catalog.items():
            agg.setdefault(ns, Path(path).resolve())

        inline_ns = {r.get("targetNamespace", "") for r, _, _ in docs}
        for root, base, path in docs:
            # Schemas side by side in one wsdl:types often use each other's components without
            # an xs:import (XSD requires one; .NET, CXF and zeep accept it anyway). Add the
            # missing imports, as those toolkits behave.
            imported = {i.get("namespace", "") for i in root.findall("{%s}import" % XS)}
            own = root.get("targetNamespace", "")
            for ns in sorted(inline_ns - imported - {own}):
                imp = etree.Element("{%s}import" % XS)
                if ns:
                    imp.set("namespace", ns)
                root.insert(0, imp)
            for ref in root.iter("{%s}import" % XS, "{%s}include" % XS, "{%s}redefine" % XS):
                loc = ref.get("schemaLocation")
                ns = ref.get("namespace", "")
                if loc and not is_remote(loc):
                    ref.set("schemaLocation", (Path(base) / loc).resolve().as_uri())
                elif ref.tag == "{%s}import" % XS:
                    if ns in agg and agg[ns] != path:
                        ref.set("schemaLocation", Path(agg[ns]).as_uri())
                    elif loc:
                        raise ContractError("%s: xs:import of remote %s (no network here; give a local copy "
                                            "with --schema-catalog %s=FILE)" % (self.path, loc, ns))
                    elif ns == XML_NS:
                        pass
                elif loc:
                    raise ContractError("%s: xs:include of remote %s" % (self.path, loc))
            etree.ElementTree(root).write(str(path))

        main = etree.Element("{%s}schema" % XS, nsmap={"xs": XS},
                             targetNamespace="urn:x-test:wsdl-contract:all")
        for ns in sorted(by_ns):
            imp = etree.SubElement(main, "{%s}import" % XS, schemaLocation=Path(agg[ns]).as_uri())
            if ns:
                imp.set("namespace", ns)
        main_path = tmp / "all.xsd"
        etree.ElementTree(main).write(str(main_path))
        try:
            return etree.XMLSchema(etree.parse(str(main_path), secure_parser()))
        except etree.XMLSchemaParseError as e:
            msgs = "; ".join("%s:%s: %s" % (x.filename, x.line, x.message) for x in e.error_log)
            raise ContractError("%s: schemas do not compile: %s" % (self.path, msgs or e))

    def _rpc_schemas(self):
        """Element declarations for the rpc/literal wrappers (operation / operation+Response
        in the soap:body namespace, one unqualified accessor per part)."""
        wanted = {}  # ns -> {element name: [Part]}
        for port in self.ports:
            for op in port.operations:
                if op.style != "rpc":
                    continue
                for io, name in ((op.input, op.name), (op.output, op.name + "Response")):
                    if io is not None:
                        wanted.setdefault(io.namespace or "", {}).setdefault(name, io.body_parts)
        result = []
        for ns, decls in wanted.items():
            used = sorted({(p.type or p.element)[0] for parts in decls.values() for p in parts} - {XS})
            prefixes = {u: "p%d" % i for i, u in enumerate(used)}
            nsmap = {"xs": XS}
            nsmap.update({v: k for k, v in prefixes.items()})
            root = etree.Element("{%s}schema" % XS, nsmap=nsmap)
            if ns:
                root.set("targetNamespace", ns)
            for u in used:
                if u != ns:
                    etree.SubElement(root, "{%s}import" % XS, namespace=u) if u else \
                        etree.SubElement(root, "{%s}import" % XS)
            for name, parts in decls.items():
                el = etree.SubElement(root, "{%s}element" % XS, name=name)
                seq = etree.SubElement(etree.SubElement(el, "{%s}complexType" % XS), "{%s}sequence" % XS)
                for p in parts:
                    q = p.type or p.element
                    ref = "xs:%s" % q[1] if q[0] == XS else ("%s:%s" % (prefixes[q[0]], q[1]) if q[0] else q[1])
                    if p.type is not None:
                        etree.SubElement(seq, "{%s}element" % XS, name=p.name, type=ref, form="unqualified")
                    else:
                        etree.SubElement(seq, "{%s}element" % XS, ref=ref)
            result.append((ns, root))
        return result

    # ---------------------------------------------------------------- validation
    def validate(self, element, what):
        """Validate one element (a body part, a header, an rpc wrapper) as a document root."""
        root = etree.Element(element.tag, attrib=dict(element.attrib), nsmap=element.nsmap)
        root.text = element.text
        for child in element:
            root.append(copy.deepcopy(child))
        with self.lock:
            ok = self.schema.validate(root)
            errors = [e for e in self.schema.error_log]
        if not ok:
            first = errors[0] if errors else None
            msg = first.message if first else "invalid"
            raise SoapFault("Client", "%s is not valid against the contract: %s" % (what, msg),
                            dotted="SchemaValidationError")

    # ---------------------------------------------------------------- requests
    def port_for(self, path, version=None):
        """The port at this path; with several (a SOAP 1.1 and a 1.2 port on one path),
        the one of the request's SOAP version."""
        at = [p for p in self.ports if p.path == path]
        for p in at:
            if p.version == version:
                return p
        return at[0] if at else None


def parse_content_type(value):
    parts = [x.strip() for x in (value or "").split(";")]
    media = parts[0].lower() if parts else ""
    params = {}
    for x in parts[1:]:
        if "=" in x:
            k, v = x.split("=", 1)
            params[k.strip().lower()] = v.strip().strip('"')
    return media, params


class Call:
    """One SOAP request, parsed and checked against the contract."""

    def __init__(self, contract, port, version, envelope, operation, soap_action,
                 body_parts, header_parts, headers, raw):
        self.contract = contract
        self.port = port
        self.version = version
        self.envelope = envelope
        self.operation = operation
        self.soap_action = soap_action
        self.body_parts = body_parts      # {part name: element}
        self.header_parts = header_parts  # {part name: element}
        self.headers = headers            # all header child elements
        self.raw = raw

    @property
    def env_ns(self):
        return ENV_OF[self.version]


def elements(parent):
    return [c for c in parent if isinstance(c.tag, str)]


def parse_request(contract, port, http_headers, body, understood=()):
    """Parse and check a request for a port. Returns a Call or raises SoapFault/HttpError.

    understood: extra header element QNames (clark) the caller processes itself
    (e.g. wsse:Security when WS-Security is on)."""
    media, params = parse_content_type(http_headers.get("Content-Type"))
    if media != CTYPE_OF[port.version]:
        raise HttpError(415, "this endpoint takes SOAP %s (%s), not '%s'"
                        % (port.version, CTYPE_OF[port.version], media or "no Content-Type"))
    if port.version == "1.1":
        action = http_headers.get("SOAPAction")
        if action is None:
            raise SoapFault("Client", "the SOAPAction HTTP header is missing (SOAP 1.1 requires it)")
        action = action.strip()
        if len(action) >= 2 and action[0] == '"' and action[-1] == '"':
            action = action[1:-1]
    else:
        action = params.get("action")
    try:
        doc = etree.fromstring(body, secure_parser())
    except etree.XMLSyntaxError as e:
        raise SoapFault("Client", "the request is not well-formed XML: %s" % e)
    env = ENV_OF[port.version]
    if doc.tag not in ("{%s}Envelope" % ENV11, "{%s}Envelope" % ENV12):
        raise SoapFault("Client", "the request is not a SOAP envelope (root %s)" % doc.tag)
    if doc.tag != "{%s}Envelope" % env:
        raise SoapFault("VersionMismatch", "this endpoint speaks SOAP %s; the envelope is %s"
                        % (port.version, etree.QName(doc).namespace))
    kids = elements(doc)
    header = None
    bodyel = None
    for k in kids:
        if k.tag == "{%s}Header" % env and header is None and bodyel is None:
            header = k
        elif k.tag == "{%s}Body" % env and bodyel is None:
            bodyel = k
        else:
            raise SoapFault("Client", "unexpected element %s in the envelope" % k.tag)
    if bodyel is None:
        raise SoapFault("Client", "the envelope has no Body")
    headers = elements(header) if header is not None else []
    body_children = elements(bodyel)

    # mustUnderstand
    # (before the body is looked at, as SOAP processing requires)
    understood = set(understood) | {clark(h.part.element) for o in port.operations for h in o.input.headers
                                    if h.part.element}
    for h in headers:
        mu = h.get("{%s}mustUnderstand" % env)
        if mu in ("1", "true"):
            role = h.get("{%s}actor" % env) if port.version == "1.1" else h.get("{%s}role" % env)
            if role in (None, "", ENV11 + "/actor/next", ENV12 + "/role/next", ENV12 + "/role/ultimateReceiver"):
                if h.tag not in understood:
                    raise SoapFault("MustUnderstand", "header %s is marked mustUnderstand and is not understood here"
                                    % h.tag)

    op = find_operation(port, action, body_children)
    try:
        parts, hparts = _check_parts(contract, port, env, op, headers, body_children, understood)
    except SoapFault as f:
        f.operation = op.name  # the call reached an operation: count it there
        raise
    return Call(contract, port, port.version, doc, op, action, parts, hparts, headers, body)


def _check_parts(contract, port, env, op, headers, body_children, understood):
    # body parts
    parts = {}
    if op.style == "rpc":
        if len(body_children) != 1:
            raise SoapFault("Client", "an rpc request has exactly one child of Body")
        wrapper = body_children[0]
        contract.validate(wrapper, "the %s request" % op.name)
        for acc in elements(wrapper):
            parts[etree.QName(acc).localname] = acc
    else:
        expected = op.input.body_parts
        if len(body_children) != len(expected):
            raise SoapFault("Client", "operation %s takes %d body element(s) (%s); the request has %d"
                            % (op.name, len(expected), ", ".join(clark(p.element) for p in expected),
                               len(body_children)))
        for p, el in zip(expected, body_children):
            if el.tag != clark(p.element):
                raise SoapFault("Client", "operation %s expects %s in the Body, not %s"
                                % (op.name, clark(p.element), el.tag))
            contract.validate(el, "body part '%s' (%s)" % (p.name, etree.QName(el).localname))
            parts[p.name] = el

    # header parts
    hparts = {}
    for spec in op.input.headers:
        tag = clark(spec.part.element) if spec.part.element else None
        found = [h for h in headers if h.tag == tag]
        if not found:
            if spec.required:
                raise SoapFault("Client", "the SOAP header %s is required by operation %s" % (tag, op.name),
                                dotted="MissingHeader")
            continue
        if len(found) > 1:
            raise SoapFault("Client", "the SOAP header %s appears %d times" % (tag, len(found)))
        contract.validate(found[0], "SOAP header %s" % etree.QName(found[0]).localname)
        hparts[spec.part.name] = found[0]
    return parts, hparts



def find_operation(port, action, body_children):
    sig = None
    if body_children:
        first = body_children[0]
        sig = (etree.QName(first).namespace or "", etree.QName(first).localname)
    by_body = [op for op in port.operations if op.body_signature() == sig]
    if action:
        by_action = [op for op in port.operations if op.soap_action == action]
        if not by_action:
            raise SoapFault("Client", "no operation of this endpoint has SOAPAction '%s'" % action,
                            dotted="ActionNotSupported")
        both = [op for op in by_action if op in by_body]
        if not both:
            raise SoapFault("Client", "SOAPAction '%s' is operation %s, which does not take %s in the Body"
                            % (action, by_action[0].name, clark(sig) if sig else "an empty Body"))
        return both[0]
    # no (or an empty) SOAPAction
    if port.version == "1.1":
        strict = [op for op in by_body if op.soap_action]
        if strict and len(strict) == len(by_body):
            raise SoapFault("Client", "operation %s requires SOAPAction '%s'; the request has none"
                            % (strict[0].name, strict[0].soap_action), dotted="ActionNotSupported")
    if not by_body:
        raise SoapFault("Client", "no operation of this endpoint takes %s in the Body"
                        % (clark(sig) if sig else "an empty Body"))
    if len(by_body) > 1:
        raise SoapFault("Client", "%s is the body of operations %s: the SOAPAction must say which"
                        % (clark(sig), ", ".join(op.name for op in by_body)))
    return by_body[0]


# -------------------------------------------------------------------- responses
def envelope_bytes(version, body_children, header_children=()):
    env = ENV_OF[version]
    root = etree.Element("{%s}Envelope" % env, nsmap={"soap": env})
    if header_children:
        h = etree.SubElement(root, "{%s}Header" % env)
        for c in header_children:
            h.append(c)
    b = etree.SubElement(root, "{%s}Body" % env)
    for c in body_children:
        b.append(c)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def render_response(call, parts, header_parts=None, validate=True):
    """parts: {part name: element}. Document style: each element is the part's element
    (tag = the part's element QName). rpc: each element is the part accessor (any tag;
    renamed to the unqualified part name). Returns the envelope bytes."""
    op = call.operation
    out = op.output
    if out is None:
        return None
    headers = []
    for spec in out.headers:
        el = (header_parts or {}).get(spec.part.name)
        if el is not None:
            if validate:
                call.contract.validate(el, "response header %s" % spec.part.name)
            headers.append(el)
    if op.style == "rpc":
        wrapper = etree.Element("{%s}%sResponse" % (out.namespace or "", op.name) if out.namespace
                                else op.name + "Response")
        for p in out.body_parts:
            el = parts.get(p.name)
            if el is None:
                continue
            el.tag = p.name
            wrapper.append(el)
        if validate:
            _validate_response(call, wrapper, "the %s response" % op.name)
        return envelope_bytes(call.version, [wrapper], headers)
    body = []
    for p in out.body_parts:
        el = parts.get(p.name)
        if el is None:
            raise AssertionError("handler gave no element for output part %s of %s" % (p.name, op.name))
        if el.tag != clark(p.element):
            raise AssertionError("handler gave %s for output part %s (%s)" % (el.tag, p.name, clark(p.element)))
        if validate:
            _validate_response(call, el, "response part %s" % p.name)
        body.append(el)
    return envelope_bytes(call.version, body, headers)


def _validate_response(call, el, what):
    try:
        call.contract.validate(el, what)
    except SoapFault as f:
        # the server itself broke its contract: a bug in the test server, never the client's
        raise AssertionError("test server answer outside its own contract: %s" % f.string)


def fault_bytes(version, fault):
    env = ENV_OF[version]
    root = etree.Element("{%s}Envelope" % env, nsmap={"soap": env})
    b = etree.SubElement(root, "{%s}Body" % env)
    f = etree.SubElement(b, "{%s}Fault" % env)
    if version == "1.1":
        code = {"Sender": "Client", "Receiver": "Server"}.get(fault.code, fault.code)
        if fault.subcode and fault.subcode[0] not in (ENV11, "") and not fault.dotted:
            fc = etree.SubElement(f, "faultcode", nsmap={"f": fault.subcode[0]})
            fc.text = "f:%s" % fault.subcode[1]
        else:
            fc = etree.SubElement(f, "faultcode")
            fc.text = "soap:%s%s" % (code, "." + fault.dotted if fault.dotted else "")
        etree.SubElement(f, "faultstring").text = fault.string
        if fault.detail:
            d = etree.SubElement(f, "detail")
            for el in fault.detail:
                d.append(el)
        status = fault.http_status or 500
    else:
        code = {"Client": "Sender", "Server": "Receiver"}.get(fault.code, fault.code)
        c = etree.SubElement(f, "{%s}Code" % env)
        etree.SubElement(c, "{%s}Value" % env).text = "soap:%s" % code
        if fault.subcode:
            sc = etree.SubElement(c, "{%s}Subcode" % env)
            v = etree.SubElement(sc, "{%s}Value" % env, nsmap={"f": fault.subcode[0]})
            v.text = "f:%s" % fault.subcode[1]
        r = etree.SubElement(f, "{%s}Reason" % env)
        t = etree.SubElement(r, "{%s}Text" % env)
        t.set("{%s}lang" % XML_NS, "en")
        t.text = fault.string
        if fault.detail:
            d = etree.SubElement(f, "{%s}Detail" % env)
            for el in fault.detail:
                d.append(el)
        status = fault.http_status or (400 if code == "Sender" else 500)
    return status, etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def content_type(version):
    return CTYPE_OF[version] + "; charset=utf-8"


def default_env_version(http_headers):
    media, _ = parse_content_type(http_headers.get("Content-Type"))
    return "1.2" if media == "application/soap+xml" else "1.1"


if __name__ == "__main__":
    import sys
    c = Contract(sys.argv[1])
    for p in c.ports:
        print(p.name, p.version, p.path)
        for op in p.operations:
            print("  ", op.name, op.style, repr(op.soap_action),
                  [clark(x.element or x.type) for x in op.input.body_parts],
                  [clark(h.part.element) for h in op.input.headers],
                  "->", [clark(x.element or x.type) for x in op.output.body_parts] if op.output else None,
                  sorted(op.faults))
    os._exit(0)
