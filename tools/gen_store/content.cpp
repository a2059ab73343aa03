#include "tools/gen_store/content.hpp"

#include "bridge/core/sha256.hpp"

#include <boost/json/array.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <system_error>

#include "tools/gen_store/content_data.hpp"
#include "tools/gen_store/time_util.hpp"

namespace reportbridge::gen {
namespace {

namespace json = boost::json;
using data::Sv;

constexpr double kPi = 3.141592653589793;
constexpr std::size_t kMaxDescription = 10000;

double round6(double v) { return std::round(v * 1e6) / 1e6; }

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
void utf8_truncate(std::string& s, std::size_t max) {
  if (s.size() <= max) return;
  std::size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
  s.resize(cut);
}

// ASCII slug of a name for e-mail addresses ("Łukasz" -> "lukasz").
std::string ascii_slug(Sv name) {
  static constexpr std::pair<Sv, char> kFold[] = {
      {"ł", 'l'}, {"Ł", 'l'}, {"ó", 'o'}, {"ś", 's'}, {"ń", 'n'}, {"ż", 'z'}, {"ź", 'z'}, {"ą", 'a'},
      {"ę", 'e'}, {"ć", 'c'}, {"ë", 'e'}, {"é", 'e'}, {"ț", 't'}, {"ţ", 't'}, {"ş", 's'}, {"ș", 's'},
      {"Ş", 's'}, {"ă", 'a'}, {"â", 'a'}, {"î", 'i'}, {"á", 'a'}, {"ô", 'o'}, {"ö", 'o'}, {"ü", 'u'}};
  std::string out;
  for (std::size_t i = 0; i < name.size();) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x80) {
      if (std::isalnum(c)) out += static_cast<char>(std::tolower(c));
      ++i;
      continue;
    }
    bool folded = false;
    for (const auto& [from, to] : kFold) {
      if (name.substr(i, from.size()) == from) {
        out += to;
        i += from.size();
        folded = true;
        break;
      }
    }
    if (!folded) {
      ++i;
      while (i < name.size() && (static_cast<unsigned char>(name[i]) & 0xC0) == 0x80) ++i;
    }
  }
  return out;
}

struct Fill {
  Sv street, place, shop, clock, daypart, colour, car, pcso;
  int n, house, mins;
};

Fill make_fill(Rng& rng, Sv street, const data::Town& town) {
  Fill f{};
  f.street = street;
  f.place = rng.pick(town.landmarks);
  f.shop = rng.pick(std::span<const Sv>(data::kShops));
  f.n = static_cast<int>(rng.range(3, 15));
  f.house = static_cast<int>(rng.range(1, 180));
  f.mins = static_cast<int>(rng.range(20, 90));
  f.clock = rng.pick(std::span<const Sv>(data::kClock));
  f.daypart = rng.pick(std::span<const Sv>(data::kDaypart));
  f.colour = rng.pick(std::span<const Sv>(data::kColour));
  f.car = rng.pick(std::span<const Sv>(data::kCar));
  f.pcso = rng.pick(std::span<const Sv>(data::kPcso));
  return f;
}

void format_into(std::string& out, Sv tmpl, const Fill& f) {
  out.clear();
  for (std::size_t i = 0; i < tmpl.size();) {
    if (tmpl[i] == '{') {
      const auto close = tmpl.find('}', i);
      if (close != Sv::npos) {
        const Sv key = tmpl.substr(i + 1, close - i - 1);
        if (key == "street") out += f.street;
        else if (key == "place") out += f.place;
        else if (key == "shop") out += f.shop;
        else if (key == "clock") out += f.clock;
        else if (key == "daypart") out += f.daypart;
        else if (key == "colour") out += f.colour;
        else if (key == "car") out += f.car;
        else if (key == "pcso") out += f.pcso;
        else if (key == "n") out += std::to_string(f.n);
        else if (key == "house") out += std::to_string(f.house);
        else if (key == "mins") out += std::to_string(f.mins);
        else out.append(tmpl.substr(i, close - i + 1));
        i = close + 1;
        continue;
      }
    }
    out += tmpl[i++];
  }
}

std::span<const data::Template> find_set(std::span<const data::TemplateSet> sets, Sv key) {
  for (const auto& s : sets)
    if (s.key == key) return s.items;
  return {};
}

std::span<const Weighted<Sv>> categories_for(Sv kind) {
  if (kind == "concern") return data::kConcernCategories;
  if (kind == "information") return data::kInformationCategories;
  if (kind == "complaint") return data::kComplaintCategories;
  if (kind == "feedback") return data::kFeedbackCategories;
  return data::kComplimentCategories;
}

struct Place {
  json::object location;
  int town;
  Sv street;
};

Sv postcode_letter(Rng& rng) {
  return data::kPostcodeLetters.substr(static_cast<std::size_t>(rng.range(0, 19)), 1);
}

std::string postcode(Rng& rng, const data::Town& town) {
  std::string pc(rng.pick(town.districts));
  pc += ' ';
  pc += static_cast<char>('0' + rng.range(1, 9));
  pc += postcode_letter(rng);
  pc += postcode_letter(rng);
  return pc;
}

Place make_place(Rng& rng, const json::storage_ptr& sp) {
  const int ti = rng.pick_weighted(std::span<const Weighted<int>>(data::kTownWeights));
  const auto& town = data::kTowns[static_cast<std::size_t>(ti)];
  const double r_km = std::abs(rng.gauss() * town.spread_km / 1.6);
  const double bearing = rng.uniform(0, 2 * kPi);
  const double lat = town.lat + r_km * 1000 * std::cos(bearing) / 111320;
  const double lon = town.lon + r_km * 1000 * std::sin(bearing) / (111320 * std::cos(town.lat * kPi / 180));
  const Sv street = rng.pick(town.streets);
  std::string address;
  const double form = rng.uniform();
  if (form < 0.45) {
    address.append(street).append(", ").append(town.name);
  } else if (form < 0.75) {
    address = std::to_string(rng.range(1, 240));
    address.append(" ").append(street).append(", ").append(town.name);
  } else if (form < 0.9) {
    address.append("Outside ").append(rng.pick(std::span<const Sv>(data::kShops)));
    address.append(", ").append(street).append(", ").append(town.name);
  } else {
    address.append("Near ").append(rng.pick(town.landmarks)).append(", ").append(town.name);
  }
  static constexpr int kAccuracy[] = {5, 8, 10, 12, 15, 20, 30, 48, 65};
  static constexpr int kPoorAccuracy[] = {500, 1200, 2500};
  const int acc = rng.chance(0.95) ? rng.pick(std::span<const int>(kAccuracy))
                                   : rng.pick(std::span<const int>(kPoorAccuracy));
  json::object loc(sp);
  loc.reserve(5);
  loc.emplace("lat", round6(lat));
  loc.emplace("lon", round6(lon));
  loc.emplace("accuracy_m", acc);
  loc.emplace("address", address);
  if (rng.chance(0.7)) loc.emplace("postcode", postcode(rng, town));
  else loc.emplace("postcode", nullptr);
  return {std::move(loc), ti, street};
}

// Returns the reporter (or null) and the language the resident writes in.
json::value make_reporter(Rng& rng, std::string& lang, const json::storage_ptr& sp) {
  int total = 0;
  for (const auto& c : data::kCommunities) total += c.weight;
  int r = static_cast<int>(rng.range(0, total - 1));
  const data::Community* pick = &data::kCommunities.back();
  for (const auto& c : data::kCommunities) {
    if (r < c.weight) {
      pick = &c;
      break;
    }
    r -= c.weight;
  }
  lang = std::string(rng.pick_weighted(pick->languages));
  json::object rep(sp);
  rep.reserve(9);
  if (rng.chance(0.18)) {
    // Anonymous: no name, e-mail or phone (older app versions send nulls, newer ones omit them).
    rep.emplace("anonymous", true);
    if (rng.chance(0.5)) {
      rep.emplace("name", nullptr);
      rep.emplace("email", nullptr);
      rep.emplace("phone", nullptr);
    }
    rep.emplace("contact_ok", false);
    rep.emplace("preferred_language", lang);
    rep.emplace("age_band", nullptr);
    rep.emplace("ethnicity", nullptr);
    rep.emplace("gender", nullptr);
    return rep;
  }
  const Sv given = rng.pick(pick->given);
  const Sv family = rng.pick(pick->family);
  std::string name(given);
  name.append(" ").append(family);
  if (!pick->native_names.empty() && rng.chance(0.15)) name = std::string(rng.pick(pick->native_names));
  json::value email(sp), phone(sp);
  const double r2 = rng.uniform();
  if (r2 < 0.75) {
    const Sv domain = rng.chance(0.85) ? "example.org" : "example.com";
    const std::string g = ascii_slug(given), f = ascii_slug(family);
    std::string e;
    const double style = rng.uniform();
    if (style < 0.4) {
      e = g + "." + f;
    } else if (style < 0.7) {
      e = g + f.substr(0, 1) + std::to_string(rng.range(1, 99));
    } else {
      e = g.substr(0, 1) + "." + f + std::to_string(rng.range(70, 99));
    }
    e.append("@").append(domain);
    email = json::string(e, sp);
  }
  if (r2 > 0.35) {
    char buf[20];
    std::snprintf(buf, sizeof buf, "+447700900%03d", static_cast<int>(rng.range(0, 999)));
    phone = json::string(buf, sp);
  }
  rep.emplace("anonymous", false);
  rep.emplace("name", name);
  rep.emplace("email", std::move(email));
  rep.emplace("phone", std::move(phone));
  rep.emplace("contact_ok", rng.chance(0.7));
  rep.emplace("preferred_language", lang);
  if (rng.chance(0.8)) rep.emplace("age_band", rng.pick(std::span<const Sv>(data::kAgeBands)));
  else rep.emplace("age_band", nullptr);
  if (rng.chance(0.75)) rep.emplace("ethnicity", rng.pick(pick->ethnicities));
  else if (rng.chance(0.5)) rep.emplace("ethnicity", "Prefer not to say");
  else rep.emplace("ethnicity", nullptr);
  const Sv gender = rng.pick_weighted(std::span<const Weighted<Sv>>(data::kGenders));
  if (gender.empty()) rep.emplace("gender", nullptr);
  else rep.emplace("gender", gender);
  return rep;
}

void make_text(Rng& rng, Sv kind, Sv category, const std::string& lang, Sv street, int town_i,
               double formula_rate, std::string& summary, std::string& desc) {
  std::string key(category);
  if (category == "police_feedback") key = "police_feedback:" + std::string(kind);
  std::span<const data::Template> pool;
  for (const auto& l : data::kOtherLanguages)
    if (l.code == lang) pool = find_set(l.sets, key);
  if (pool.empty() || rng.chance(0.15)) pool = find_set(data::kEnglish, key);
  if (pool.empty()) pool = find_set(data::kEnglish, "other");
  const auto& tmpl = rng.pick(pool);
  const Fill fill = make_fill(rng, street, data::kTowns[static_cast<std::size_t>(town_i)]);
  format_into(summary, tmpl.summary, fill);
  format_into(desc, tmpl.description, fill);
  // Realism: extra lines, CRLF from web forms, emoji, dangerous strings, RTL marks, rants.
  const double r = rng.uniform();
  if (r < 0.25) desc.append("\n").append(rng.pick(std::span<const Sv>(data::kExtraLines)));
  else if (r < 0.32) desc.append("\r\n\r\n").append(rng.pick(std::span<const Sv>(data::kExtraLines)));
  if (rng.chance(0.2)) desc.append(rng.pick(std::span<const Sv>(data::kEmoji)));
  // Some right-to-left keyboards insert a right-to-left mark first.
  if ((lang == "ar" || lang == "ur") && rng.chance(0.3)) desc.insert(0, "\u200f");
  if (formula_rate > 0 && rng.chance(formula_rate)) {
    const Sv formula = rng.pick(std::span<const Sv>(data::kFormulas));
    if (rng.chance(0.5)) summary = std::string(formula);
    else desc = std::string(formula) + "\n" + desc;
  } else if (rng.chance(0.03)) {
    const Sv special = rng.pick(std::span<const Sv>(data::kXmlSpecials));
    if (rng.chance(0.3)) summary.append(" ").append(special);
    else desc.append("\n").append(special);
  }
  if (rng.chance(0.01)) {
    const auto target = static_cast<std::size_t>(rng.range(2000, 6000));
    desc += "\n\n";
    while (desc.size() < target) desc.append(rng.pick(std::span<const Sv>(data::kRant)));
    utf8_truncate(desc, kMaxDescription);
  }
}

std::int64_t submitted_from_received(Rng& rng, std::int64_t received) {
  const double r = rng.uniform();
  double lag;
  if (r < 0.85) lag = rng.uniform(0.2, 3);
  else if (r < 0.95) lag = rng.uniform(3, 120);
  else lag = rng.uniform(600, 12 * 3600);  // queued while the phone was offline
  return received - static_cast<std::int64_t>(lag);
}

json::object make_occurred(Rng& rng, Sv kind, std::int64_t submitted, const json::storage_ptr& sp) {
  json::object occ(sp);
  occ.reserve(3);
  if (kind == "feedback" || kind == "compliment" || kind == "complaint") {
    std::int64_t start = submitted - static_cast<std::int64_t>(rng.uniform(3600, 14 * 86400));
    start -= start % 300;
    occ.emplace("start", format_london(start));
    occ.emplace("end", nullptr);
    occ.emplace("ongoing", false);
    return occ;
  }
  const double r = rng.uniform();
  const double lag = r < 0.4 ? rng.uniform(0, 1800) : r < 0.8 ? rng.uniform(1800, 86400) : rng.uniform(86400, 14 * 86400);
  std::int64_t start = submitted - static_cast<std::int64_t>(lag);
  start -= start % (rng.chance(0.6) ? 300 : 60);
  const bool ongoing = lag < 3600 && rng.chance(0.5);
  occ.emplace("start", format_london(start));
  if (!ongoing && rng.chance(0.6)) {
    std::int64_t end = std::min(start + static_cast<std::int64_t>(rng.uniform(300, 3 * 3600)), submitted);
    end -= end % 60;
    occ.emplace("end", format_london(std::max(end, start)));
  } else {
    occ.emplace("end", nullptr);
  }
  occ.emplace("ongoing", ongoing);
  return occ;
}

std::string file_name(Rng& rng, Sv ext, std::int64_t when) {
  const std::string stamp = utc_stamp(when);
  char buf[64];
  const int choice = static_cast<int>(rng.range(0, 3));
  if (ext == "jpg") {
    if (choice == 0) std::snprintf(buf, sizeof buf, "IMG_%04d.jpg", static_cast<int>(rng.range(1, 9999)));
    else if (choice == 1) std::snprintf(buf, sizeof buf, "PXL_%s%03d.jpg", stamp.c_str(), static_cast<int>(rng.range(0, 999)));
    else if (choice == 2) return "image.jpeg";
    else {
      std::string s = stamp;
      s.replace(8, 1, " at ");
      return "WhatsApp Image " + s + ".jpeg";
    }
  } else if (ext == "png") {
    if (choice % 2 == 1) return "screenshot.png";
    std::string s = stamp;
    s[8] = '-';
    return "Screenshot_" + s + ".png";
  } else if (ext == "mp4") {
    if (choice % 2 == 1) return "video.mp4";
    return "VID_" + stamp + ".mp4";
  } else if (ext == "heic") {
    std::snprintf(buf, sizeof buf, "IMG_%04d.HEIC", static_cast<int>(rng.range(1, 9999)));
  } else {
    std::snprintf(buf, sizeof buf, "IMG_%04d.MOV", static_cast<int>(rng.range(1, 9999)));
  }
  return buf;
}

void write_file(const std::filesystem::path& path, std::string_view bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw std::runtime_error("cannot write " + path.string());
  const std::size_t n = std::fwrite(bytes.data(), 1, bytes.size(), f);
  const bool ok = n == bytes.size() && std::fclose(f) == 0;
  if (!ok) throw std::runtime_error("cannot write " + path.string());
}

Sv ext_of(Sv path) {
  const auto dot = path.rfind('.');
  return dot == Sv::npos ? Sv() : path.substr(dot + 1);
}

}  // namespace


std::string uuid_v4(Rng& rng) {
  std::uint64_t hi = rng.next(), lo = rng.next();
  hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(36, '-');
  std::size_t pos = 0;
  auto put = [&](std::uint64_t word, int nibbles) {
    for (int i = nibbles - 1; i >= 0; --i) {
      if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;
      out[pos++] = kHex[(word >> (4 * i)) & 15];
    }
  };
  put(hi, 16);
  put(lo, 16);
  return out;
}

Content::Content(ContentOptions options) : options_(std::move(options)) {}

std::filesystem::path Content::ensure_day_dir(const std::string& day) {
  const std::filesystem::path dir = options_.media_root / day;
  if (dir.native() != last_dir_) {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) throw std::runtime_error("cannot create " + dir.string() + ": " + ec.message());
    last_dir_ = dir.native();
  }
  return dir;
}

json::object Content::attachment(Rng& rng, std::int64_t received, std::string_view media_type,
                                 const json::storage_ptr& sp) {
  const data::Media* media = nullptr;
  if (media_type.empty()) {
    media = &data::kMedia[static_cast<std::size_t>(
        rng.pick_weighted(std::span<const Weighted<int>>(data::kMediaWeights)))];
  } else {
    for (const auto& m : data::kMedia)
      if (m.type == media_type) media = &m;
  }
  if (!media) throw std::logic_error("unknown media type");
  const auto size = static_cast<std::size_t>(rng.log_uniform(1024, 40 * 1024));
  file_buf_.assign(media->head);
  const std::size_t body_end = size - media->tail.size();
  while (file_buf_.size() < body_end) {
    std::uint64_t w = rng.next();
    for (int b = 0; b < 8 && file_buf_.size() < body_end; ++b, w >>= 8) file_buf_ += static_cast<char>(w & 0xFF);
  }
  file_buf_.append(media->tail);
  const std::string id = uuid_v4(rng);
  const std::string day = utc_day_path(received);
  std::string rel = day + "/" + id + "." + std::string(media->ext);
  write_file(ensure_day_dir(day) / (id + "." + std::string(media->ext)), file_buf_);
  ++files_;
  bytes_ += static_cast<std::int64_t>(file_buf_.size());
  json::object a(sp);
  a.reserve(6);
  a.emplace("id", id);
  a.emplace("filename", file_name(rng, media->ext, received));
  a.emplace("media_type", media->type);
  a.emplace("size_bytes", static_cast<std::int64_t>(file_buf_.size()));
  a.emplace("sha256", core::sha256_hex(file_buf_));
  a.emplace("path", rel);
  return a;
}

json::object Content::document(Rng& rng, std::string_view id, std::int64_t received, bool with_attachments,
                               const json::storage_ptr& sp) {
  const Sv kind = rng.pick_weighted(std::span<const Weighted<Sv>>(data::kKindWeights));
  Sv category = rng.pick_weighted(categories_for(kind));
  if (rng.chance(0.005)) category = rng.pick(std::span<const Sv>(data::kUnknownCategories));
  const std::int64_t submitted = submitted_from_received(rng, received);
  Place place = make_place(rng, sp);
  const bool no_location = rng.chance((kind == "feedback" || kind == "compliment") ? 0.5 : 0.04);
  std::string lang;
  json::value reporter = make_reporter(rng, lang, sp);
  if (rng.chance(0.03)) {
    reporter = nullptr;
    lang = "en";
  }
  std::string summary, desc;
  make_text(rng, kind, category, lang, place.street, place.town, options_.formula_rate, summary, desc);
  json::object occurred = make_occurred(rng, kind, submitted, sp);
  json::array attachments(sp);
  if (with_attachments && !options_.media_root.empty() && options_.attachment_rate > 0 &&
      rng.chance(options_.attachment_rate)) {
    static constexpr Weighted<int> kCounts[] = {{1, 70}, {2, 20}, {3, 10}};
    const int n = rng.pick_weighted(std::span<const Weighted<int>>(kCounts));
    for (int i = 0; i < n; ++i) attachments.emplace_back(attachment(rng, received, {}, sp));
  }
  json::object device(sp);
  device.emplace("platform", rng.pick_weighted(std::span<const Weighted<Sv>>(data::kPlatforms)));
  device.emplace("app_version", rng.pick_weighted(std::span<const Weighted<Sv>>(data::kAppVersions)));
  json::object consent(sp);
  consent.emplace("share_with_partners", rng.chance(0.3));

  json::object doc(sp);
  doc.reserve(13);
  doc.emplace("id", id);
  doc.emplace("version", 1);
  doc.emplace("submitted_at", format_london(submitted));
  doc.emplace("kind", kind);
  doc.emplace("category", category);
  doc.emplace("summary", summary);
  doc.emplace("description", desc);
  doc.emplace("occurred", std::move(occurred));
  if (no_location) doc.emplace("location", nullptr);
  else doc.emplace("location", std::move(place.location));
  doc.emplace("reporter", std::move(reporter));
  doc.emplace("attachments", std::move(attachments));
  doc.emplace("device", std::move(device));
  doc.emplace("consent", std::move(consent));
  return doc;
}

void Content::exact_dup(Rng& rng, json::object& doc, std::string_view new_id, std::int64_t received) {
  doc["id"] = new_id;
  if (rng.chance(0.5)) {  // the second tap is stamped a few seconds later
    if (const auto* s = doc.if_contains("submitted_at"); s && s->is_string()) {
      if (auto t = parse_rfc3339(s->get_string())) {
        doc["submitted_at"] = format_london(std::min(*t + rng.range(1, 20), received));
      }
    }
  }
  auto* atts = doc.if_contains("attachments");
  if (!atts || !atts->is_array()) return;
  for (auto& a : atts->get_array()) {
    auto& obj = a.as_object();
    const std::string src(obj.at("path").as_string());
    const std::string id = uuid_v4(rng);
    const std::string day = utc_day_path(received);
    const std::string name = id + "." + std::string(ext_of(src));
    std::error_code ec;
    std::filesystem::copy_file(options_.media_root / src, ensure_day_dir(day) / name,
                               std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) throw std::runtime_error("cannot copy attachment " + src + ": " + ec.message());
    ++files_;
    bytes_ += obj.at("size_bytes").as_int64();
    obj["id"] = id;
    obj["path"] = day + "/" + name;
  }
}

std::string Content::update(Rng& rng, json::object& doc, std::int64_t version, std::int64_t received) {
  doc["version"] = version;
  doc["submitted_at"] = format_london(received - static_cast<std::int64_t>(rng.uniform(0.2, 3)));
  auto* loc = doc.if_contains("location");
  const bool has_location = loc && loc->is_object();
  const bool can_attach = options_.attachment_rate > 0 && !options_.media_root.empty();
  const double r = rng.uniform();
  std::string change = "added_detail";
  if (can_attach && r < 0.4) change = "added_photo";
  else if (has_location && r >= 0.4 && r < 0.75) change = "corrected_address";

  if (change == "added_photo") {
    auto* atts = doc.if_contains("attachments");
    if (!atts || !atts->is_array()) {
      doc["attachments"] = json::array(doc.storage());
      atts = doc.if_contains("attachments");
    }
    atts->get_array().emplace_back(attachment(rng, received, "image/jpeg", doc.storage()));
  } else if (change == "corrected_address") {
    auto& l = loc->get_object();
    const auto* addr = l.if_contains("address");
    const Sv address = addr && addr->is_string() ? Sv(addr->get_string()) : Sv();
    const data::Town* town = nullptr;
    for (const auto& t : data::kTowns)
      if (address.ends_with(t.name)) town = &t;
    if (!town) town = &rng.pick(std::span<const data::Town>(data::kTowns));
    std::string fixed = std::to_string(rng.range(1, 240));
    fixed.append(" ").append(rng.pick(town->streets)).append(", ").append(town->name);
    l["address"] = fixed;
    l["postcode"] = postcode(rng, *town);
    const double d = rng.uniform(30, 300), b = rng.uniform(0, 2 * kPi);
    const double lat = l["lat"].to_number<double>(), lon = l["lon"].to_number<double>();
    l["lat"] = round6(lat + d * std::cos(b) / 111320);
    l["lon"] = round6(lon + d * std::sin(b) / (111320 * std::cos(lat * kPi / 180)));
  } else {
    Fill fill{};
    fill.clock = rng.pick(std::span<const Sv>(data::kClock));
    fill.colour = rng.pick(std::span<const Sv>(data::kColour));
    fill.n = static_cast<int>(rng.range(3, 15));
    std::string line;
    format_into(line, rng.pick(std::span<const Sv>(data::kUpdateLines)), fill);
    const std::string extra = "\n\nUpdate: " + line;
    auto& d = doc["description"];
    std::string desc = d.is_string() ? std::string(d.get_string()) : std::string();
    utf8_truncate(desc, kMaxDescription - extra.size());
    d = desc + extra;
  }
  return change;
}

std::string Content::malformed(Rng& rng, std::string_view id, std::int64_t received, JsonWriter& writer,
                               std::string& reason, const json::storage_ptr& sp) {
  json::object doc = document(rng, id, received, false, sp);  // never references files
  std::string good;
  writer.write(doc, good);
  const double r = rng.uniform();
  std::string out;
  if (r < 0.15) {
    reason = "invalid_json";
    switch (rng.range(0, 7)) {
      case 0: {  // unquoted enum value
        const std::string kind(doc.at("kind").as_string());
        out = good;
        const std::string from = "\"kind\":\"" + kind + "\"";
        out.replace(out.find(from), from.size(), "\"kind\":" + kind);
        break;
      }
      case 1:  // trailing comma
        out = good.substr(0, good.size() - 1) + ",}";
        break;
      case 2:  // unquoted key
        out = "{id:" + good.substr(6);
        break;
      case 3:  // single quotes
        out = good;
        std::replace(out.begin(), out.end(), '"', '\'');
        break;
      case 4:
        out = "";
        break;
      case 5:
        out = "<html><body>502 Bad Gateway</body></html>";
        break;
      case 6: {  // leading zero
        out = good;
        const auto p = out.find("\"version\":1");
        out.replace(p, 11, "\"version\":01");
        break;
      }
      default:  // NaN from a careless client
        out = good.substr(0, good.size() - 1) + ",\"score\":NaN}";
        break;
    }
    return out;
  }
  if (r < 0.30) {
    reason = "truncated";  // any strict prefix of a compact object is invalid JSON
    return good.substr(0, static_cast<std::size_t>(rng.range(1, static_cast<std::int64_t>(good.size()) - 1)));
  }
  if (r < 0.50) {
    static constexpr Sv kRequired[] = {"id", "version", "submitted_at", "kind", "description"};
    const Sv field = rng.pick(std::span<const Sv>(kRequired));
    if (rng.chance(0.25)) {
      doc[field] = nullptr;  // present but null counts as missing
    } else {
      json::object without(sp);  // object::erase would move the last member into the gap
      without.reserve(doc.size());
      for (const auto& kv : doc)
        if (kv.key() != field) without.emplace(kv.key(), kv.value());
      doc = std::move(without);
    }
    reason = "missing_field:" + std::string(field);
  } else if (r < 0.70) {
    static constexpr Sv kFields[] = {"kind",     "version",  "description", "attachments", "reporter",
                                     "location", "submitted_at", "id",      "payload"};
    const Sv field = rng.pick(std::span<const Sv>(kFields));
    reason = "wrong_type:" + std::string(field);
    if (field == "kind") {
      switch (rng.range(0, 2)) {
        case 0: doc["kind"] = 3; break;
        case 1: doc["kind"] = json::array({"concern"}, sp); break;
        default: doc["kind"] = true; break;
      }
    } else if (field == "version") {
      if (rng.chance(0.5)) doc["version"] = "1";
      else doc["version"] = 1.5;
    } else if (field == "description") {
      doc["description"] = json::array({doc.at("description")}, sp);
    } else if (field == "attachments") {
      json::object bogus(sp);
      bogus["0"] = json::object({{"filename", "IMG_0001.jpg"}}, sp);
      doc["attachments"] = std::move(bogus);
    } else if (field == "reporter") {
      doc["reporter"] = "Anonymous caller";
    } else if (field == "location") {
      doc["location"] = "Linthorpe Road, Middlesbrough";
    } else if (field == "submitted_at") {
      doc["submitted_at"] = received;
    } else if (field == "id") {
      doc["id"] = static_cast<std::int64_t>(rng.range(1, 99999));
    } else {
      json::array wrapped(sp);
      wrapped.emplace_back(doc);
      writer.write(wrapped, out);
      return out;
    }
  } else if (r < 0.82) {
    auto& loc = doc["location"];
    if (!loc.is_object()) loc = make_place(rng, sp).location;
    if (rng.chance(0.5)) {
      static constexpr double kBadLat[] = {154.57, -91.0, 540.0};
      loc.get_object()["lat"] = rng.pick(std::span<const double>(kBadLat));
      reason = "out_of_range:lat";
    } else {
      static constexpr double kBadLon[] = {-181.2, 201.0, -1235.0};
      loc.get_object()["lon"] = rng.pick(std::span<const double>(kBadLon));
      reason = "out_of_range:lon";
    }
  } else if (r < 0.92) {
    static constexpr Sv kUnknown[] = {"emergency", "crime_report", "question", "", "Concern ", "CONCERN"};
    doc["kind"] = rng.pick(std::span<const Sv>(kUnknown));
    reason = "unknown_kind";
  } else if (rng.chance(0.7)) {
    doc["id"] = uuid_v4(rng);  // the back end stored it under another id
    reason = "id_mismatch";
  } else {
    doc["version"] = 2;
    reason = "version_mismatch";
  }
  writer.write(doc, out);
  return out;
}

}  // namespace reportbridge::gen
