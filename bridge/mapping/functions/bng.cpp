#include "bridge/mapping/functions/bng.hpp"

#include <proj.h>

#include <charconv>
#include <cmath>
#include <mutex>
#include <stdexcept>

namespace reportbridge::mapping::functions {
namespace {

// EPSG:27700 area of use (PROJ's proj.db: United Kingdom offshore to the UKCS
// boundary, onshore Great Britain and the Isle of Man).
constexpr double kSouth = 49.75, kNorth = 61.01, kWest = -9.01, kEast = 2.01;

std::optional<double> parse_degrees(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v, std::chars_format::fixed);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size() || !std::isfinite(v)) {
    return std::nullopt;
  }
  return v;
}

}  // namespace

struct BngFromWgs84::Impl {
  PJ_CONTEXT* ctx = nullptr;
  PJ* transform = nullptr;
  std::mutex mutex;

  ~Impl() {
    if (transform) proj_destroy(transform);
    if (ctx) proj_context_destroy(ctx);
  }
};

BngFromWgs84::BngFromWgs84() : impl_(std::make_unique<Impl>()) {
  impl_->ctx = proj_context_create();
  if (!impl_->ctx) throw std::runtime_error("bng: PROJ context creation failed");
  proj_log_level(impl_->ctx, PJ_LOG_NONE);
  proj_context_set_enable_network(impl_->ctx, 0);
  PJ* raw = proj_create_crs_to_crs(impl_->ctx, "EPSG:4326", "EPSG:27700", nullptr);
  if (!raw) {
    throw std::runtime_error(std::string("bng: PROJ cannot build EPSG:4326 -> EPSG:27700: ") +
                             proj_context_errno_string(impl_->ctx, proj_context_errno(impl_->ctx)));
  }
  // EPSG:4326 is latitude-first; normalise to longitude, latitude / easting, northing.
  impl_->transform = proj_normalize_for_visualization(impl_->ctx, raw);
  proj_destroy(raw);
  if (!impl_->transform) throw std::runtime_error("bng: PROJ axis normalisation failed");
}

BngFromWgs84::~BngFromWgs84() = default;
BngFromWgs84::BngFromWgs84(BngFromWgs84&&) noexcept = default;
BngFromWgs84& BngFromWgs84::operator=(BngFromWgs84&&) noexcept = default;

BngResult BngFromWgs84::convert(double latitude, double longitude) const {
  if (!std::isfinite(latitude) || !std::isfinite(longitude)) return {std::nullopt, "bng.invalid"};
  if (latitude < kSouth || latitude > kNorth || longitude < kWest || longitude > kEast) {
    return {std::nullopt, "bng.out_of_range"};
  }
  PJ_COORD out;
  {
    std::lock_guard lock(impl_->mutex);
    proj_errno_reset(impl_->transform);
    out = proj_trans(impl_->transform, PJ_FWD, proj_coord(longitude, latitude, 0, 0));
    if (proj_errno(impl_->transform) != 0) {
      proj_errno_reset(impl_->transform);
      return {std::nullopt, "bng.out_of_range"};
    }
  }
  if (!std::isfinite(out.xy.x) || !std::isfinite(out.xy.y)) {  // PROJ signals failure with HUGE_VAL
    return {std::nullopt, "bng.out_of_range"};
  }
  return {BngPoint{std::llround(out.xy.x), std::llround(out.xy.y)}, {}};
}

BngResult BngFromWgs84::convert(std::string_view latitude, std::string_view longitude) const {
  auto lat = parse_degrees(latitude);
  auto lon = parse_degrees(longitude);
  if (!lat || !lon) return {std::nullopt, "bng.invalid"};
  return convert(*lat, *lon);
}

Result BngFromWgs84::easting(std::string_view latitude, std::string_view longitude) const {
  BngResult r = convert(latitude, longitude);
  if (!r.ok()) return Result::fail(r.error);
  return Result::of(std::to_string(r.value->easting));
}

Result BngFromWgs84::northing(std::string_view latitude, std::string_view longitude) const {
  BngResult r = convert(latitude, longitude);
  if (!r.ok()) return Result::fail(r.error);
  return Result::of(std::to_string(r.value->northing));
}

std::string BngFromWgs84::last_operation() const {
  std::lock_guard lock(impl_->mutex);
  PJ* op = proj_trans_get_last_used_operation(impl_->transform);
  if (!op) return {};
  std::string description = proj_pj_info(op).description ? proj_pj_info(op).description : "";
  proj_destroy(op);
  return description;
}

}  // namespace reportbridge::mapping::functions
