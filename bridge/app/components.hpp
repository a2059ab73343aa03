#pragma once
// Explicit registration of the built-in target types: each declares the spec of
// its config keys (checked by `check`, printed into docs/configuration.md) and
// a factory that builds its Sink.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bridge/config/daemon_config.hpp"
#include "bridge/core/sink.hpp"

namespace reportbridge::app {

struct TargetFactory {
  config::MapSpec spec;
  // Builds the sink; adds diagnostics and returns nullptr on bad settings.
  std::function<std::unique_ptr<core::Sink>(const config::DaemonConfig&, const config::TargetSettings&,
                                            std::vector<std::string> columns,
                                            core::AttachmentLocator locator, core::Diagnostics&)>
      create;
  // The field names the target accepts (e.g. element paths of its XSD), for
  // the mapping loader's checks; empty function: any field.
  std::function<std::optional<std::vector<std::string>>(const config::DaemonConfig&, const config::TargetSettings&,
                                                        core::Diagnostics&)>
      fields;
  // A check of one field name (e.g. an XML path resolved against the target's
  // schema, with why and the nearest valid paths when it does not resolve);
  // when set, used instead of `fields`. Returns an empty function when the
  // target's settings are unusable (the factory reports that).
  std::function<std::function<std::optional<std::string>(const std::string&)>(const config::DaemonConfig&,
                                                                           const config::TargetSettings&)>
      field_check;
};

const std::map<std::string, TargetFactory>& builtin_targets();
config::TargetSpecs builtin_target_specs();

}  // namespace reportbridge::app
