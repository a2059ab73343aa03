#pragma once
// Compact JSON text from a Boost.JSON value. Strings and keys are escaped by
// Boost.JSON's serializer; numbers are written in plain decimal ("54.5742",
// not Boost 1.81's "5.45742E1") so payloads look like the app's own.
#include <boost/json/serializer.hpp>
#include <boost/json/value.hpp>

#include <string>

namespace reportbridge::gen {

class JsonWriter {
 public:
  // Appends the compact text of `v` to `out`.
  void write(const boost::json::value& v, std::string& out);
  void write_string(boost::json::string_view s, std::string& out);

 private:
  boost::json::serializer sr_;
};

}  // namespace reportbridge::gen
