#pragma once
// Sources and sinks are plug-ins. Each adapter folder (adapters/sources/<x>/,
// adapters/sinks/<x>/) exports one SourceType or SinkType: the spec of its own
// config keys (checked by `check`, printed into docs/configuration.md by
// `reportbridge config-keys`) and a factory that builds it from the config.
// One explicit list, adapters/registry.cpp, adds them to a Registry; the
// config loader, the app and the daemon know only these types and the
// core::Source / core::Sink interfaces. No static self-registration: what is
// built in is what that list says.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bridge/config/daemon_config.hpp"
#include "bridge/core/diagnostics.hpp"
#include "bridge/core/sink.hpp"
#include "bridge/core/source.hpp"

namespace reportbridge::config {

struct SourceType {
  std::string type;  // the value of `source.type`, e.g. "sqlite"
  // Its own keys, allowed in the `source:` map beside the common ones
  // (type, name, poll_interval, batch_size, late_row_window).
  MapSpec spec;
  // Builds the source from `config.source` (its `settings` hold the whole
  // map). Bad settings: diagnostics with their position, nullptr. Opens no
  // connection: a store that is not there yet is a warning, not an error.
  std::function<std::unique_ptr<core::Source>(const DaemonConfig& config, core::Diagnostics& diags)> create;
};

struct SinkType {
  std::string type;  // the value of a target's `type`, e.g. "csv_drop"
  // Its own keys, allowed in a target map beside the common ones (name, type,
  // retry, writeback, circuit, related, reporter_key).
  MapSpec spec;
  // Builds the sink for one target. `columns`: the field names the mappings
  // give this target, in order; `locator` resolves attachments through the
  // source. Bad settings: diagnostics with their position, nullptr.
  std::function<std::unique_ptr<core::Sink>(const DaemonConfig& config, const TargetSettings& target,
                                            std::vector<std::string> columns, core::AttachmentLocator locator,
                                            core::Diagnostics& diags)>
      create;
  // The field names the target accepts (e.g. the element paths of its XSD),
  // for the mapping loader's checks; unset, or nullopt: any field.
  std::function<std::optional<std::vector<std::string>>(const DaemonConfig& config, const TargetSettings& target,
                                                        core::Diagnostics& diags)>
      fields;
  // The target has one fixed column list (a CSV file has one header): every
  // mapping feeding it must give the same fields in the same order, and a
  // reload (SIGHUP) may not change them.
  bool fixed_columns = false;
  // A check of one field name (e.g. an XML path resolved against the target's
  // schema, with why and the nearest valid paths when it does not resolve);
  // when set, used instead of `fields`. Returns an empty function when the
  // target's settings are unusable (the factory reports that).
  std::function<std::function<std::optional<std::string>(const std::string&)>(const DaemonConfig& config,
                                                                           const TargetSettings& target)>
      field_check;
  // A check of a fixed value (a constant, default or lookup value) a mapping
  // gives one field: nullopt when the target would accept it, else why (e.g.
  // an XML field's enumeration, length, pattern or range). Optional.
  std::function<std::function<std::optional<std::string>(const std::string& field, const std::string& value)>(
      const DaemonConfig& config, const TargetSettings& target)>
      value_check;
  // A check of one path of a mapping's `operations:` section (operation,
  // path): nullopt when the operation's input has it, else why. Only targets
  // with per-operation requests (SOAP from a WSDL) set it; the others refuse
  // `operations:`. Returns an empty function when the settings are unusable.
  std::function<std::function<std::optional<std::string>(const std::string& operation, const std::string& path)>(
      const DaemonConfig& config, const TargetSettings& target)>
      operation_check;
  // Hands a created sink the `operations:` sections of the mappings feeding it
  // (mapping name -> operation -> (field name, path; "": not sent)), then
  // checks the sink with them and the mappings' field names (`columns`),
  // reporting at the target. Optional.
  using OperationSections =
      std::map<std::string, std::map<std::string, std::vector<std::pair<std::string, std::string>>>>;
  std::function<void(core::Sink& sink, const OperationSections& sections, const std::vector<std::string>& columns,
                     const TargetSettings& target, core::Diagnostics& diags)>
      apply_operations;
};

class Registry {
 public:
  // Throws std::logic_error when the type is registered already.
  void add(SourceType source);
  void add(SinkType sink);

  const SourceType* source(std::string_view type) const;  // nullptr: unknown
  const SinkType* sink(std::string_view type) const;      // nullptr: unknown
  // In registration order.
  const std::vector<SourceType>& sources() const { return sources_; }
  const std::vector<SinkType>& sinks() const { return sinks_; }

  // The specs by type, for load_daemon_config.
  ComponentSpecs specs() const;

 private:
  std::vector<SourceType> sources_;
  std::vector<SinkType> sinks_;
};

}  // namespace reportbridge::config
