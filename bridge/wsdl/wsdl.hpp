#pragma once
// A WSDL 1.1 contract: services, ports, bindings, port types, messages, and
// per operation what a SOAP client needs - the SOAP version, SOAPAction,
// endpoint, style (document/literal wrapped, bare, rpc/literal), the input,
// header, output and fault elements as QNames into the schema set of the
// WSDL's wsdl:types (bridge/xml/schema_set.hpp). See docs/contracts.md.
//
// - Files: the WSDL and the WSDL files it wsdl:import-s (local only, relative
//   to the importing file; network locations refused with file:line). Each
//   file's components are named in its own targetNamespace.
// - Everything is read; problems that make an operation unusable (SOAP
//   encoding use="encoded", an HTTP binding, a message part whose element the
//   schemas do not declare, ...) are kept on that operation
//   (Operation::problems, each "file:line: why"), so that one bad operation
//   does not hide the others. Malformed XML, a root that is not
//   wsdl:definitions, a reference to an undefined message/portType/binding
//   throw xml::SchemaError ("file:line: why").
// - Thread safety: immutable once loaded.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/xml/schema_set.hpp"

namespace reportbridge::wsdl {

using xml::QName;
using xml::SourcePos;

inline constexpr const char* kWsdlNamespace = "http://schemas.xmlsoap.org/wsdl/";
inline constexpr const char* kSoap11BindingNamespace = "http://schemas.xmlsoap.org/wsdl/soap/";
inline constexpr const char* kSoap12BindingNamespace = "http://schemas.xmlsoap.org/wsdl/soap12/";
inline constexpr const char* kHttpBindingNamespace = "http://schemas.xmlsoap.org/wsdl/http/";
inline constexpr const char* kSoapHttpTransport = "http://schemas.xmlsoap.org/soap/http";

enum class SoapVersion { soap11, soap12 };
enum class Style { document, rpc };
enum class OperationStyle {
  document_wrapped,  // one body part, an element named like the operation with a sequence of elements
  document_bare,     // body parts are elements, sent as they are
  rpc_literal,       // a wrapper named after the operation (soap:body namespace), parts as unqualified children
};
const char* to_string(SoapVersion v);
const char* to_string(OperationStyle s);

struct Part {
  std::string name;
  std::optional<QName> element;  // element=
  std::optional<QName> type;     // type=
  SourcePos where;
};

struct Message {
  QName name;
  std::vector<Part> parts;
  SourcePos where;
  const Part* part(std::string_view name) const;
};

struct PortTypeOperation {
  std::string name;
  std::optional<QName> input, output;                       // messages
  std::vector<std::pair<std::string, QName>> faults;        // fault name, message
  SourcePos where;
};

struct PortType {
  QName name;
  std::vector<PortTypeOperation> operations;
  SourcePos where;
};

struct SoapBody {
  bool present = false;
  std::string use = "literal";                    // literal or encoded
  std::optional<std::vector<std::string>> parts;  // parts= (absent: all)
  std::string ns;                                 // namespace= (rpc)
  SourcePos where;
};

struct SoapHeader {
  QName message;
  std::string part;
  std::string use = "literal";
  SourcePos where;
};

struct BindingOperation {
  std::string name;
  std::optional<std::string> soap_action;  // soap:operation soapAction=
  std::optional<Style> style;              // soap:operation style= (overrides the binding's)
  SoapBody input, output;
  std::vector<SoapHeader> input_headers, output_headers;
  std::vector<std::pair<std::string, std::string>> faults;  // name, use
  SourcePos where;
};

struct Binding {
  enum class Kind { soap11, soap12, http, other };
  QName name;
  QName port_type;
  Kind kind = Kind::other;
  Style style = Style::document;  // soap:binding style= (default document)
  std::string transport;
  std::vector<BindingOperation> operations;
  SourcePos where;
};

struct Port {
  std::string name;
  QName binding;
  std::string address;  // soap:address / soap12:address location
  SourcePos where;
};

struct Service {
  QName name;
  std::vector<Port> ports;
  SourcePos where;
};

// One element of a message as sent: a body part, a header, a fault detail.
struct MessageElement {
  std::string part;              // the message part's name
  QName element;                 // document: the part's element; rpc: {"", part name}
  std::optional<QName> type;     // rpc parts: the part's type
};

struct Fault {
  std::string name;
  std::optional<QName> element;
};

// What a SOAP client needs for one operation of one port.
struct Operation {
  std::string service, port, name;
  SoapVersion version = SoapVersion::soap11;
  std::string soap_action;     // empty when the binding gives none
  std::string endpoint;        // the port's address
  OperationStyle style = OperationStyle::document_bare;
  // document_wrapped: the wrapper element (the only body element); rpc: the
  // wrapper {soap:body namespace (else the WSDL's), operation name}.
  std::optional<QName> input_wrapper, output_wrapper;
  std::vector<MessageElement> input, input_headers;    // body parts, in message order
  std::vector<MessageElement> output, output_headers;
  std::vector<Fault> faults;
  bool one_way = false;        // no output message
  std::vector<std::string> problems;  // "file:line: why": the operation cannot be used
  SourcePos where;             // the binding operation
  bool usable() const { return problems.empty(); }
};

class Wsdl {
 public:
  // Throws xml::SchemaError. The schema set is loaded from the same file
  // (wsdl:types of it and of its imported WSDLs).
  static std::shared_ptr<const Wsdl> load(const std::filesystem::path& file);

  const std::filesystem::path& file() const { return file_; }
  const std::string& target_namespace() const { return target_namespace_; }
  const std::vector<Service>& services() const { return services_; }
  const std::vector<Binding>& bindings() const { return bindings_; }
  const std::vector<PortType>& port_types() const { return port_types_; }
  const std::vector<Message>& messages() const { return messages_; }
  const std::shared_ptr<const xml::SchemaSet>& schemas() const { return schemas_; }

  const Message* message(const QName& name) const;
  const Binding* binding(const QName& name) const;
  const PortType* port_type(const QName& name) const;

  // Every operation of every port (also of ports whose binding cannot be
  // used: their operations carry the problem), services and ports in file order.
  std::vector<Operation> operations() const;
  // The operations of one port ("" service / port: the only one).
  std::vector<Operation> operations(std::string_view service, std::string_view port) const;
  // One operation by name. Empty service/port: the one usable SOAP port
  // offering it (SOAP 1.1 preferred when a service offers both versions
  // through otherwise identical ports, unless `version` says otherwise).
  // Throws std::invalid_argument naming what exists when not found or ambiguous.
  Operation operation(std::string_view name, std::string_view service = {}, std::string_view port = {},
                      std::optional<SoapVersion> version = std::nullopt) const;

  struct Impl;

 private:
  friend struct Impl;
  std::filesystem::path file_;
  std::string target_namespace_;
  std::vector<Service> services_;
  std::vector<Binding> bindings_;
  std::vector<PortType> port_types_;
  std::vector<Message> messages_;
  std::shared_ptr<const xml::SchemaSet> schemas_;
  Operation derive(const Service& service, const Port& port, const Binding* binding,
                   const BindingOperation* op, const std::string& op_name) const;
};

}  // namespace reportbridge::wsdl
