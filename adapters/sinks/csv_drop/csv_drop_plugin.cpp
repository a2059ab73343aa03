#include "adapters/sinks/csv_drop/csv_drop_plugin.hpp"

#include "adapters/sinks/csv_drop/csv_drop_sink.hpp"

namespace reportbridge::csv_drop {

namespace {

using config::ValueKind;

const config::MapSpec kCsvDropSpec{
    "csv_drop target",
    {{"directory", ValueKind::string, true, "Folder the CSV files are published into (created if missing)."},
     {"file_prefix", ValueKind::string, false, "File name prefix (default: the target name)."},
     {"delimiter", ValueKind::string, false, "comma (default), semicolon, tab or pipe.",
      {"comma", "semicolon", "tab", "pipe"}},
     {"encoding", ValueKind::string, false, "utf-8 (default), utf-8-bom (for Excel) or windows-1252.",
      {"utf-8", "utf-8-bom", "windows-1252"}},
     {"unencodable", ValueKind::string, false,
      "windows-1252 only: transliterate (default; leftovers written as [U+XXXX]) or reject.",
      {"transliterate", "reject"}},
     {"header", ValueKind::boolean, false, "Write a header row (default true)."},
     {"formula_guard", ValueKind::boolean, false,
      "Prefix cells starting with = + - @ TAB CR with ' (default true)."},
     {"max_rows", ValueKind::integer, false, "Roll a file at this many rows (default 5000)."},
     {"max_age", ValueKind::duration, false, "Publish a partial file once its oldest row waited this long (default 60s)."},
     {"trigger_file", ValueKind::boolean, false, "Write <file>.done after publishing (default false)."},
     {"copy_attachments", ValueKind::boolean, false, "Copy attachments beside the CSV (default true)."},
     {"max_attachment_size", ValueKind::size, false, "Larger attachments reject the item (default 50MiB)."},
     {"line_ending", ValueKind::string, false, "crlf (default, RFC 4180) or lf.", {"crlf", "lf"}}}};

std::unique_ptr<core::Sink> make_csv_drop(const config::DaemonConfig& cfg,
                                          const config::TargetSettings& t,
                                          std::vector<std::string> columns,
                                          core::AttachmentLocator locator, core::Diagnostics& diags) {
  const auto& s = t.settings;
  CsvDropConfig c;
  c.name = t.name;
  c.directory = cfg.resolve(config::get_string(s, "directory", ""));
  c.file_prefix = config::get_string(s, "file_prefix", "");
  const std::string delim = config::get_string(s, "delimiter", "comma");
  c.delimiter = delim == "semicolon" ? ';' : delim == "tab" ? '\t' : delim == "pipe" ? '|' : ',';
  const std::string enc = config::get_string(s, "encoding", "utf-8");
  c.encoding = enc == "utf-8-bom"      ? Encoding::utf8_bom
               : enc == "windows-1252" ? Encoding::windows_1252
                                       : Encoding::utf8;
  c.unencodable = config::get_string(s, "unencodable", "transliterate") == "reject"
                      ? UnencodablePolicy::reject
                      : UnencodablePolicy::transliterate;
  c.header = config::get_bool(s, "header", true);
  c.formula_guard = config::get_bool(s, "formula_guard", true);
  c.max_rows = static_cast<std::size_t>(config::get_int(s, "max_rows", 5000, cfg.file, diags, 1));
  c.max_age = config::get_duration(s, "max_age", c.max_age);
  c.trigger_file = config::get_bool(s, "trigger_file", false);
  c.copy_attachments = config::get_bool(s, "copy_attachments", true);
  c.max_attachment_bytes = config::get_size(s, "max_attachment_size", c.max_attachment_bytes);
  c.line_ending = config::get_string(s, "line_ending", "crlf") == "lf" ? "\n" : "\r\n";
  if (columns.empty()) {
    diags.error(t.position.file, t.position.line, t.position.column,
                "no mapping feeds target '" + t.name + "', so it has no columns", "config.target_unused");
    return nullptr;
  }
  try {
    return std::make_unique<CsvDropSink>(std::move(c), std::move(columns), std::move(locator));
  } catch (const std::invalid_argument& e) {
    // The sink refuses settings it cannot honour (a prefix unsafe in file names, ...).
    auto p = s["file_prefix"] ? config::position_of(cfg.file, s["file_prefix"]) : t.position;
    diags.error(p.file, p.line, p.column, "target '" + t.name + "': " + e.what(), "config.bad_target");
    return nullptr;
  }
}

}  // namespace

config::SinkType sink_type() {
  config::SinkType t{"csv_drop", kCsvDropSpec, make_csv_drop, {}};
  t.fixed_columns = true;  // one header per file
  return t;
}

}  // namespace reportbridge::csv_drop
