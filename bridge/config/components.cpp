#include "bridge/config/components.hpp"

#include <stdexcept>

namespace reportbridge::config {

void Registry::add(SourceType source) {
  if (this->source(source.type)) throw std::logic_error("source type '" + source.type + "' registered twice");
  sources_.push_back(std::move(source));
}

void Registry::add(SinkType sink) {
  if (this->sink(sink.type)) throw std::logic_error("target type '" + sink.type + "' registered twice");
  sinks_.push_back(std::move(sink));
}

const SourceType* Registry::source(std::string_view type) const {
  for (const auto& s : sources_)
    if (s.type == type) return &s;
  return nullptr;
}

const SinkType* Registry::sink(std::string_view type) const {
  for (const auto& s : sinks_)
    if (s.type == type) return &s;
  return nullptr;
}

ComponentSpecs Registry::specs() const {
  ComponentSpecs specs;
  for (const auto& s : sources_) specs.sources.emplace(s.type, s.spec);
  for (const auto& s : sinks_) specs.targets.emplace(s.type, s.spec);
  return specs;
}

}  // namespace reportbridge::config
