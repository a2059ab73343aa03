#include "bridge/store/record_codec.hpp"

namespace reportbridge::store::codec {

namespace {
constexpr char kRecordFormat = 'R';

std::size_t varint_size(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
}  // namespace

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void put_bytes(std::string& out, std::string_view bytes) {
  put_varint(out, bytes.size());
  out.append(bytes);
}

bool get_varint(std::string_view& in, std::uint64_t& value) {
  std::uint64_t v = 0;
  for (unsigned shift = 0, i = 0; i < in.size() && shift < 64; ++i, shift += 7) {
    const auto byte = static_cast<unsigned char>(in[i]);
    v |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      in.remove_prefix(i + 1);
      value = v;
      return true;
    }
  }
  return false;
}

bool get_bytes(std::string_view& in, std::string_view& bytes) {
  std::uint64_t n = 0;
  if (!get_varint(in, n) || n > in.size()) return false;
  bytes = in.substr(0, n);
  in.remove_prefix(n);
  return true;
}

bool get_string(std::string_view& in, std::string& out) {
  std::string_view b;
  if (!get_bytes(in, b)) return false;
  out.assign(b);
  return true;
}

void put_values(std::string& out, const core::TargetRecord& r) {
  for (const auto& f : r.fields) {
    if (!f.value) {
      out.push_back(0);
      continue;
    }
    put_varint(out, f.value->size() + 1);
    out.append(*f.value);
  }
  put_varint(out, r.attachments.size());
  for (const auto& a : r.attachments) {
    put_bytes(out, a.id);
    put_bytes(out, a.filename);
    put_bytes(out, a.media_type);
    put_varint(out, a.size_bytes);
    put_bytes(out, a.sha256);
    put_bytes(out, a.path);
  }
}

std::size_t values_size(const core::TargetRecord& r) {
  std::size_t n = 0;
  for (const auto& f : r.fields) n += f.value ? varint_size(f.value->size() + 1) + f.value->size() : 1;
  n += varint_size(r.attachments.size());
  for (const auto& a : r.attachments)
    n += varint_size(a.id.size()) + a.id.size() + varint_size(a.filename.size()) + a.filename.size() +
         varint_size(a.media_type.size()) + a.media_type.size() + varint_size(a.size_bytes) +
         varint_size(a.sha256.size()) + a.sha256.size() + varint_size(a.path.size()) + a.path.size();
  return n;
}

bool get_values(std::string_view& in, const std::vector<std::string>& names, core::TargetRecord& out) {
  out.fields.clear();
  out.fields.reserve(names.size());
  for (const auto& name : names) {
    std::uint64_t n = 0;
    if (!get_varint(in, n)) return false;
    core::RecordField f{name, std::nullopt};
    if (n > 0) {
      if (n - 1 > in.size()) return false;
      f.value.emplace(in.substr(0, n - 1));
      in.remove_prefix(n - 1);
    }
    out.fields.push_back(std::move(f));
  }
  std::uint64_t count = 0;
  if (!get_varint(in, count) || count > in.size()) return false;
  out.attachments.clear();
  out.attachments.reserve(count);
  for (std::uint64_t i = 0; i < count; ++i) {
    core::AttachmentRef a;
    if (!get_string(in, a.id) || !get_string(in, a.filename) || !get_string(in, a.media_type) ||
        !get_varint(in, a.size_bytes) || !get_string(in, a.sha256) || !get_string(in, a.path))
      return false;
    out.attachments.push_back(std::move(a));
  }
  return true;
}

std::string encode_record(const core::TargetRecord& r) {
  std::string out;
  out.reserve(64 + values_size(r) + r.fields.size() * 16);
  out.push_back(kRecordFormat);
  put_bytes(out, r.submission_id);
  put_varint(out, static_cast<std::uint64_t>(r.version));
  put_bytes(out, r.mapping);
  put_bytes(out, r.target);
  put_varint(out, r.fields.size());
  for (const auto& f : r.fields) put_bytes(out, f.name);
  put_values(out, r);
  return out;
}

std::string encode_record(std::string_view submission_id, std::int64_t version, std::string_view mapping,
                          std::string_view target, const std::vector<std::string>& names, std::string_view values) {
  std::string out;
  out.reserve(64 + values.size() + names.size() * 16);
  out.push_back(kRecordFormat);
  put_bytes(out, submission_id);
  put_varint(out, static_cast<std::uint64_t>(version));
  put_bytes(out, mapping);
  put_bytes(out, target);
  put_varint(out, names.size());
  for (const auto& n : names) put_bytes(out, n);
  out.append(values);
  return out;
}

bool decode_record(std::string_view in, core::TargetRecord& out) {
  if (in.empty() || in.front() != kRecordFormat) return false;
  in.remove_prefix(1);
  out = core::TargetRecord{};
  std::uint64_t version = 0, nfields = 0;
  if (!get_string(in, out.submission_id) || !get_varint(in, version) || !get_string(in, out.mapping) ||
      !get_string(in, out.target) || !get_varint(in, nfields) || nfields > in.size())
    return false;
  out.version = static_cast<std::int64_t>(version);
  std::vector<std::string> names(nfields);
  for (auto& n : names)
    if (!get_string(in, n)) return false;
  return get_values(in, names, out) && in.empty();
}

}  // namespace reportbridge::store::codec
