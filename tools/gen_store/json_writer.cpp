#include "tools/gen_store/json_writer.hpp"

#include <charconv>
#include <cmath>

namespace reportbridge::gen {

void JsonWriter::write_string(boost::json::string_view s, std::string& out) {
  sr_.reset(s);
  char buf[4096];
  while (!sr_.done()) {
    const auto part = sr_.read(buf, sizeof buf);
    out.append(part.data(), part.size());
  }
}

void JsonWriter::write(const boost::json::value& v, std::string& out) {
  char num[40];
  switch (v.kind()) {
    case boost::json::kind::null:
      out += "null";
      break;
    case boost::json::kind::bool_:
      out += v.get_bool() ? "true" : "false";
      break;
    case boost::json::kind::int64: {
      const auto r = std::to_chars(num, num + sizeof num, v.get_int64());
      out.append(num, r.ptr);
      break;
    }
    case boost::json::kind::uint64: {
      const auto r = std::to_chars(num, num + sizeof num, v.get_uint64());
      out.append(num, r.ptr);
      break;
    }
    case boost::json::kind::double_: {
      const double d = v.get_double();
      if (!std::isfinite(d)) {
        out += "null";  // JSON has no NaN/Inf; never produced by the generator
        break;
      }
      const auto r = std::to_chars(num, num + sizeof num, d, std::chars_format::fixed);
      std::string_view text(num, static_cast<std::size_t>(r.ptr - num));
      out.append(text);
      if (text.find('.') == std::string_view::npos) out += ".0";
      break;
    }
    case boost::json::kind::string:
      write_string(v.get_string(), out);
      break;
    case boost::json::kind::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v.get_array()) {
        if (!first) out += ',';
        first = false;
        write(e, out);
      }
      out += ']';
      break;
    }
    case boost::json::kind::object: {
      out += '{';
      bool first = true;
      for (const auto& kv : v.get_object()) {
        if (!first) out += ',';
        first = false;
        write_string(kv.key(), out);
        out += ':';
        write(kv.value(), out);
      }
      out += '}';
      break;
    }
  }
}

}  // namespace reportbridge::gen
