#include "bridge/core/record.hpp"

#include <boost/json.hpp>

namespace reportbridge::core {

namespace json = boost::json;

const std::optional<std::string>* TargetRecord::find(const std::string& field_name) const {
  for (const auto& f : fields)
    if (f.name == field_name) return &f.value;
  return nullptr;
}

std::string external_reference(const std::string& submission_id, std::int64_t version) {
  return submission_id + ":" + std::to_string(version);
}

std::string to_json(const TargetRecord& record) {
  json::object o;
  o["submission_id"] = record.submission_id;
  o["version"] = record.version;
  o["mapping"] = record.mapping;
  o["target"] = record.target;
  json::array fields;
  fields.reserve(record.fields.size());
  for (const auto& f : record.fields) {
    json::array pair;
    pair.emplace_back(json::string_view(f.name));
    if (f.value)
      pair.emplace_back(json::string_view(*f.value));
    else
      pair.emplace_back(nullptr);
    fields.emplace_back(std::move(pair));
  }
  o["fields"] = std::move(fields);
  json::array atts;
  for (const auto& a : record.attachments) {
    atts.emplace_back(json::object{{"id", a.id},
                                   {"filename", a.filename},
                                   {"media_type", a.media_type},
                                   {"size_bytes", a.size_bytes},
                                   {"sha256", a.sha256},
                                   {"path", a.path}});
  }
  o["attachments"] = std::move(atts);
  return json::serialize(o);
}

namespace {
std::string str(const json::object& o, const char* key) {
  const auto* v = o.if_contains(key);
  if (!v || !v->is_string()) return {};
  return std::string(v->get_string());
}
}  // namespace

bool from_json(const std::string& text, TargetRecord& out) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return false;
  const auto& o = v.get_object();
  out = TargetRecord{};
  out.submission_id = str(o, "submission_id");
  out.mapping = str(o, "mapping");
  out.target = str(o, "target");
  if (const auto* ver = o.if_contains("version"); ver && ver->is_int64())
    out.version = ver->get_int64();
  else
    return false;
  const auto* fields = o.if_contains("fields");
  if (!fields || !fields->is_array()) return false;
  for (const auto& f : fields->get_array()) {
    if (!f.is_array() || f.get_array().size() != 2 || !f.get_array()[0].is_string()) return false;
    RecordField rf;
    rf.name = std::string(f.get_array()[0].get_string());
    const auto& val = f.get_array()[1];
    if (val.is_string()) rf.value = std::string(val.get_string());
    out.fields.push_back(std::move(rf));
  }
  if (const auto* atts = o.if_contains("attachments"); atts && atts->is_array()) {
    for (const auto& a : atts->get_array()) {
      if (!a.is_object()) return false;
      const auto& ao = a.get_object();
      AttachmentRef ref;
      ref.id = str(ao, "id");
      ref.filename = str(ao, "filename");
      ref.media_type = str(ao, "media_type");
      ref.sha256 = str(ao, "sha256");
      ref.path = str(ao, "path");
      if (const auto* sz = ao.if_contains("size_bytes"); sz && sz->is_number())
        ref.size_bytes = sz->to_number<std::uint64_t>();
      out.attachments.push_back(std::move(ref));
    }
  }
  return true;
}

}  // namespace reportbridge::core
