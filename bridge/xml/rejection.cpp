#include "bridge/xml/rejection.hpp"

#include <libxml/tree.h>

#include <algorithm>
#include <cstdio>
#include <functional>

namespace reportbridge::xml {

std::string numbered_listing(const std::string& text, const std::set<int>& marked) {
  std::string out;
  int line = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    ++line;
    char head[32];
    std::snprintf(head, sizeof head, "%s%5d | ", marked.count(line) ? ">>" : "  ", line);
    out += head;
    out.append(text, pos, end - pos);
    out += '\n';
    pos = end + 1;
  }
  return out;
}

namespace {

// Local names from below the root down to `node` (elements only).
std::vector<std::string> chain_of(const xmlNode* node) {
  std::vector<std::string> chain;
  for (; node && node->parent && node->parent->type == XML_ELEMENT_NODE; node = node->parent)
    chain.insert(chain.begin(), reinterpret_cast<const char*>(node->name));
  return chain;
}

const xmlNode* element_at_line(const xmlNode* node, int line) {
  for (; node; node = node->next) {
    if (node->type != XML_ELEMENT_NODE) continue;
    if (static_cast<int>(xmlGetLineNo(node)) == line) return node;
    if (const xmlNode* below = element_at_line(node->children, line)) return below;
  }
  return nullptr;
}

}  // namespace

std::vector<std::string> fields_behind(const XmlRenderer& renderer, const xmlDoc& doc,
                                       const core::TargetRecord& record, const std::vector<XmlError>& errors) {
  // Each field's element chain (local names below the root; attributes end at their element).
  std::vector<std::pair<std::string, std::vector<std::string>>> chains;
  for (const auto& f : record.fields) {
    if (!f.value) continue;
    auto r = renderer.resolve_field(f.name);
    if (!r) continue;
    std::vector<std::string> chain;
    for (const auto& s : r.path->steps)
      if (s.element) chain.push_back(s.element->name.local);
    chains.emplace_back(f.name, std::move(chain));
  }
  std::vector<std::string> out;
  auto add = [&](const std::string& name) {
    if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
  };
  const xmlNode* root = xmlDocGetRootElement(const_cast<xmlDoc*>(&doc));
  for (const auto& e : errors) {
    // An element that is missing has no field behind it (the mapping never fills it).
    if (e.message.find("Missing child element") != std::string::npos) continue;
    const xmlNode* node = e.line > 0 ? element_at_line(root, e.line) : nullptr;
    if (!node) continue;
    const auto target = chain_of(node);
    bool exact = false;
    for (const auto& [name, chain] : chains)
      if (chain == target) {
        add(name);
        exact = true;
      }
    if (exact) continue;
    for (const auto& [name, chain] : chains)  // an error on a container: the first field inside it
      if (chain.size() > target.size() && std::equal(target.begin(), target.end(), chain.begin())) {
        add(name);
        break;
      }
  }
  return out;
}

}  // namespace reportbridge::xml
