#include "bridge/mapping/functions/bng.hpp"

#include <proj.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "bridge/core/shared_library.hpp"

namespace reportbridge::mapping::functions {
namespace {

// PROJ's functions, loaded when the first `bng` converter is built (a mapping
// that uses `bng`), not at the start of every process: PROJ and what it links
// (libcurl, GnuTLS, libtiff, ...) cost ~5 MiB of resident pages
// (core/shared_library.hpp).
#define REPORTBRIDGE_PROJ_FUNCTIONS(X) \
  X(proj_as_proj_string) \
  X(proj_context_create) \
  X(proj_context_destroy) \
  X(proj_context_errno) \
  X(proj_context_errno_string) \
  X(proj_context_set_enable_network) \
  X(proj_coord) \
  X(proj_create_crs_to_crs) \
  X(proj_destroy) \
  X(proj_errno) \
  X(proj_errno_reset) \
  X(proj_get_area_of_use) \
  X(proj_log_level) \
  X(proj_normalize_for_visualization) \
  X(proj_pj_info) \
  X(proj_trans) \
  X(proj_trans_get_last_used_operation)

REPORTBRIDGE_SHARED_LIBRARY_API(ProjApi, proj, REPORTBRIDGE_PROJ_FUNCTIONS, REPORTBRIDGE_PROJ_SONAME,
                                "PROJ, needed by the `bng` mapping function")

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

// The pipeline PROJ builds for EPSG:4326 -> EPSG:27700 when it uses
// "OSGB36 to WGS 84 (6)"; DirectBng computes the same steps.
constexpr const char* kHelmertPipeline =
    "+proj=pipeline +step +proj=unitconvert +xy_in=deg +xy_out=rad +step +proj=push +v_3 "
    "+step +proj=cart +ellps=WGS84 +step +inv +proj=helmert +x=446.448 +y=-125.157 +z=542.06 "
    "+rx=0.15 +ry=0.247 +rz=0.842 +s=-20.489 +convention=position_vector +step +inv +proj=cart "
    "+ellps=airy +step +proj=pop +v_3 +step +proj=tmerc +lat_0=49 +lon_0=-2 +k=0.9996012717 "
    "+x_0=400000 +y_0=-100000 +ellps=airy";

constexpr double kDegToRad = 0.017453292519943296;  // PROJ's DEG_TO_RAD
constexpr int kOrder = 6;                            // PROJ_ETMERC_ORDER

// PROJ's Clenshaw summations (tmerc.cpp, Poder/Engsager).
double gatg(const double* p1, int len, double b) {
  const double cos_2b = 2 * std::cos(2 * b);
  const double* p = p1 + len;
  double h = 0, h1 = *--p, h2 = 0;
  while (p - p1) {
    h = -h2 + cos_2b * h1 + *--p;
    h2 = h1;
    h1 = h;
  }
  return b + h * std::sin(2 * b);
}

double clens(const double* a, int size, double arg_r) {
  const double* p = a + size;
  const double r = 2 * std::cos(arg_r);
  double hr1 = 0, hr = *--p, hr2;
  for (; a - p;) {
    hr2 = hr1;
    hr1 = hr;
    hr = -hr2 + r * hr1 + *--p;
  }
  return std::sin(arg_r) * hr;
}

void clen_s(const double* a, int size, double arg_r, double arg_i, double& out_r, double& out_i) {
  const double* p = a + size;
  const double sin_r = std::sin(arg_r), cos_r = std::cos(arg_r);
  const double sinh_i = std::sinh(arg_i), cosh_i = std::cosh(arg_i);
  double r = 2 * cos_r * cosh_i, i = -2 * sin_r * sinh_i;
  double hi1 = 0, hr1 = 0, hi = 0, hr = *--p, hr2, hi2;
  for (; a - p;) {
    hr2 = hr1;
    hi2 = hi1;
    hr1 = hr;
    hi1 = hi;
    hr = -hr2 + r * hr1 - i * hi1 + *--p;
    hi = -hi2 + i * hr1 + r * hi1;
  }
  r = sin_r * cosh_i;
  i = cos_r * sinh_i;
  out_r = r * hr - i * hi;
  out_i = r * hi + i * hr;
}

// WGS 84 -> OSGB36 National Grid as PROJ's Helmert pipeline computes it:
// geocentric on WGS 84, inverse position-vector Helmert (small-angle
// rotation matrix), Bowring's geodetic latitude on Airy 1830, then the
// Poder/Engsager Transverse Mercator (PROJ's default tmerc algorithm), to
// within a millimetre of PROJ 9.1.
class DirectBng {
 public:
  DirectBng() {
    // WGS84: a, rf; airy: a, b (PROJ's ellipsoid table).
    a1_ = 6378137.0;
    const double f1 = 1 / 298.257223563;
    es1_ = 2 * f1 - f1 * f1;
    a2_ = 6377563.396;
    b2_ = 6356256.910;
    es2_ = 1 - (b2_ * b2_) / (a2_ * a2_);
    e2s2_ = es2_ / (1 - es2_);
    // Helmert: translation (m), rotations (arc-seconds), scale (ppm).
    tx_ = 446.448, ty_ = -125.157, tz_ = 542.06;
    const double arcsec = kDegToRad / 3600.0;
    const double rx = 0.15 * arcsec, ry = 0.247 * arcsec, rz = 0.842 * arcsec;
    scale_ = 1 + -20.489 * 1e-6;
    // Coordinate-frame small-angle matrix, transposed for position_vector.
    r_[0][0] = 1, r_[0][1] = rz, r_[0][2] = -ry;
    r_[1][0] = -rz, r_[1][1] = 1, r_[1][2] = rx;
    r_[2][0] = ry, r_[2][1] = -rx, r_[2][2] = 1;
    std::swap(r_[0][1], r_[1][0]);
    std::swap(r_[0][2], r_[2][0]);
    std::swap(r_[1][2], r_[2][1]);
    // tmerc
    lam0_ = -2 * kDegToRad;
    k0_ = 0.9996012717;
    x0_ = 400000, y0_ = -100000;
    const double phi0 = 49 * kDegToRad;
    const double f = es2_ / (1 + std::sqrt(1 - es2_));
    const double n = f / (2 - f);
    double np = n;
    cbg_[0] = n * (-2 + n * (2 / 3.0 + n * (4 / 3.0 + n * (-82 / 45.0 + n * (32 / 45.0 + n * (4642 / 4725.0))))));
    np *= n;
    cbg_[1] = np * (5 / 3.0 + n * (-16 / 15.0 + n * (-13 / 9.0 + n * (904 / 315.0 + n * (-1522 / 945.0)))));
    np *= n;
    cbg_[2] = np * (-26 / 15.0 + n * (34 / 21.0 + n * (8 / 5.0 + n * (-12686 / 2835.0))));
    np *= n;
    cbg_[3] = np * (1237 / 630.0 + n * (-12 / 5.0 + n * (-24832 / 14175.0)));
    np *= n;
    cbg_[4] = np * (-734 / 315.0 + n * (109598 / 31185.0));
    np *= n;
    cbg_[5] = np * (444337 / 155925.0);
    np = n * n;
    qn_ = k0_ / (1 + n) * (1 + np * (1 / 4.0 + np * (1 / 64.0 + np / 256.0)));
    gtu_[0] = n * (0.5 + n * (-2 / 3.0 + n * (5 / 16.0 + n * (41 / 180.0 + n * (-127 / 288.0 + n * (7891 / 37800.0))))));
    gtu_[1] = np * (13 / 48.0 + n * (-3 / 5.0 + n * (557 / 1440.0 + n * (281 / 630.0 + n * (-1983433 / 1935360.0)))));
    np *= n;
    gtu_[2] = np * (61 / 240.0 + n * (-103 / 140.0 + n * (15061 / 26880.0 + n * (167603 / 181440.0))));
    np *= n;
    gtu_[3] = np * (49561 / 161280.0 + n * (-179 / 168.0 + n * (6601661 / 7257600.0)));
    np *= n;
    gtu_[4] = np * (34729 / 80640.0 + n * (-3418889 / 1995840.0));
    np *= n;
    gtu_[5] = np * (212378941 / 319334400.0);
    const double z = gatg(cbg_, kOrder, phi0);
    zb_ = -qn_ * (z + clens(gtu_, kOrder, 2 * z));
  }

  // Easting and northing in metres (unrounded).
  void convert(double latitude, double longitude, double& east, double& north) const {
    // WGS 84 geodetic -> geocentric (height 0).
    const double phi = latitude * kDegToRad, lam = longitude * kDegToRad;
    const double sin_phi = std::sin(phi), cos_phi = std::cos(phi);
    const double nu = a1_ / std::sqrt(1 - es1_ * sin_phi * sin_phi);
    const double x1 = nu * cos_phi * std::cos(lam), y1 = nu * cos_phi * std::sin(lam);
    const double z1 = nu * (1 - es1_) * sin_phi;
    // Inverse Helmert: unscale and deoffset, then the transposed rotation.
    const double x = (x1 - tx_) / scale_, y = (y1 - ty_) / scale_, z = (z1 - tz_) / scale_;
    const double x2 = r_[0][0] * x + r_[1][0] * y + r_[2][0] * z;
    const double y2 = r_[0][1] * x + r_[1][1] * y + r_[2][1] * z;
    const double z2 = r_[0][2] * x + r_[1][2] * y + r_[2][2] * z;
    // Geocentric -> Airy 1830 geodetic (Bowring, as PROJ's cart).
    const double p = std::hypot(x2, y2);
    const double theta = std::atan2(z2 * a2_, p * b2_);
    const double c = std::cos(theta), s = std::sin(theta);
    const double phi2 = std::atan2(z2 + e2s2_ * b2_ * s * s * s, p - es2_ * a2_ * c * c * c);
    const double lam2 = std::atan2(y2, x2) - lam0_;
    // Transverse Mercator (Poder/Engsager).
    double cn = gatg(cbg_, kOrder, phi2), ce = lam2;
    const double sin_cn = std::sin(cn), cos_cn = std::cos(cn);
    const double sin_ce = std::sin(ce), cos_ce = std::cos(ce);
    cn = std::atan2(sin_cn, cos_ce * cos_cn);
    ce = std::atan2(sin_ce * cos_cn, std::hypot(sin_cn, cos_cn * cos_ce));
    ce = std::asinh(std::tan(ce));
    double dcn = 0, dce = 0;
    clen_s(gtu_, kOrder, 2 * cn, 2 * ce, dcn, dce);
    cn += dcn;
    ce += dce;
    east = a2_ * (qn_ * ce) + x0_;
    north = a2_ * (qn_ * cn + zb_) + y0_;
  }

 private:
  double a1_, es1_, a2_, b2_, es2_, e2s2_;
  double tx_, ty_, tz_, scale_, r_[3][3];
  double lam0_, k0_, x0_, y0_, qn_, zb_, cbg_[kOrder], gtu_[kOrder];
};

// The direct and PROJ's unrounded values agree within kAgree (measured: under
// 0.8 mm; PROJ 9's Transverse Mercator and geodetic steps differ from these
// formulas in the last digits). Within kMargin of a half metre the rounding
// could differ, so those points go to PROJ.
constexpr double kAgree = 2e-3;
constexpr double kMargin = 1e-2;
bool near_half(double x) {
  const double frac = x - std::floor(x);
  return std::fabs(frac - 0.5) < kMargin;
}

}  // namespace

struct BngFromWgs84::Impl {
  PJ_CONTEXT* ctx = nullptr;
  PJ* transform = nullptr;
  std::mutex mutex;
  // Direct path: enabled after the checks in the constructor; used strictly
  // inside [west, east] x [south, north] (the Helmert's area of use).
  bool direct = false;
  double west = 0, south = 0, east = 0, north = 0;
  DirectBng math;
  std::string direct_operation;  // PROJ's description of what the direct path computes
  std::atomic<bool> last_direct{false};

  ~Impl() {
    if (transform) proj().proj_destroy(transform);
    if (ctx) proj().proj_context_destroy(ctx);
  }
};

BngFromWgs84::BngFromWgs84() : impl_(std::make_unique<Impl>()) {
  impl_->ctx = proj().proj_context_create();
  if (!impl_->ctx) throw std::runtime_error("bng: PROJ context creation failed");
  proj().proj_log_level(impl_->ctx, PJ_LOG_NONE);
  proj().proj_context_set_enable_network(impl_->ctx, 0);
  PJ* raw = proj().proj_create_crs_to_crs(impl_->ctx, "EPSG:4326", "EPSG:27700", nullptr);
  if (!raw) {
    throw std::runtime_error(std::string("bng: PROJ cannot build EPSG:4326 -> EPSG:27700: ") +
                             proj().proj_context_errno_string(impl_->ctx, proj().proj_context_errno(impl_->ctx)));
  }
  // EPSG:4326 is latitude-first; normalise to longitude, latitude / easting, northing.
  impl_->transform = proj().proj_normalize_for_visualization(impl_->ctx, raw);
  proj().proj_destroy(raw);
  if (!impl_->transform) throw std::runtime_error("bng: PROJ axis normalisation failed");
  enable_direct();
}

void BngFromWgs84::enable_direct() {
  Impl& im = *impl_;
  // Which operation does PROJ pick in the middle of Great Britain?
  PJ_COORD probe = proj().proj_trans(im.transform, PJ_FWD, proj().proj_coord(-2.0, 54.0, 0, 0));
  if (!std::isfinite(probe.xy.x)) return;
  PJ* op = proj().proj_trans_get_last_used_operation(im.transform);
  if (!op) return;
  const char* def = proj().proj_as_proj_string(im.ctx, op, PJ_PROJ_5, nullptr);
  double w = 0, s = 0, e = 0, n = 0;
  const bool same = def && std::strcmp(def, kHelmertPipeline) == 0 &&
                    proj().proj_get_area_of_use(im.ctx, op, &w, &s, &e, &n, nullptr) && w < e && s < n;
  if (same && proj().proj_pj_info(op).description) im.direct_operation = proj().proj_pj_info(op).description;
  proj().proj_destroy(op);
  if (!same) return;
  // Keep a hair inside the area: PROJ's own test at the edge decides there.
  im.west = w + 1e-6, im.south = s + 1e-6, im.east = e - 1e-6, im.north = n - 1e-6;
  // The two must agree across the area (a different PROJ build would show here).
  for (double lat = im.south; lat < im.north; lat += 0.5) {
    for (double lon = im.west; lon < im.east; lon += 0.5) {
      PJ_COORD ref = proj().proj_trans(im.transform, PJ_FWD, proj().proj_coord(lon, lat, 0, 0));
      double de = 0, dn = 0;
      im.math.convert(lat, lon, de, dn);
      if (!(std::fabs(ref.xy.x - de) < kAgree && std::fabs(ref.xy.y - dn) < kAgree)) return;
    }
  }
  im.direct = true;
}

BngFromWgs84::~BngFromWgs84() = default;
BngFromWgs84::BngFromWgs84(BngFromWgs84&&) noexcept = default;
BngFromWgs84& BngFromWgs84::operator=(BngFromWgs84&&) noexcept = default;

BngResult BngFromWgs84::convert(double latitude, double longitude) const {
  const Impl& im = *impl_;
  if (im.direct && latitude > im.south && latitude < im.north && longitude > im.west &&
      longitude < im.east) {
    double east = 0, north = 0;
    im.math.convert(latitude, longitude, east, north);
    if (!near_half(east) && !near_half(north)) {
      impl_->last_direct.store(true, std::memory_order_relaxed);
      return {BngPoint{std::llround(east), std::llround(north)}, {}};
    }
  }
  return convert_with_proj(latitude, longitude);
}

BngResult BngFromWgs84::convert_with_proj(double latitude, double longitude) const {
  if (!std::isfinite(latitude) || !std::isfinite(longitude)) return {std::nullopt, "bng.invalid"};
  if (latitude < kSouth || latitude > kNorth || longitude < kWest || longitude > kEast) {
    return {std::nullopt, "bng.out_of_range"};
  }
  PJ_COORD out;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->last_direct.store(false, std::memory_order_relaxed);
    proj().proj_errno_reset(impl_->transform);
    out = proj().proj_trans(impl_->transform, PJ_FWD, proj().proj_coord(longitude, latitude, 0, 0));
    if (proj().proj_errno(impl_->transform) != 0) {
      proj().proj_errno_reset(impl_->transform);
      return {std::nullopt, "bng.out_of_range"};
    }
  }
  if (!std::isfinite(out.xy.x) || !std::isfinite(out.xy.y)) {  // PROJ signals failure with HUGE_VAL
    return {std::nullopt, "bng.out_of_range"};
  }
  return {BngPoint{std::llround(out.xy.x), std::llround(out.xy.y)}, {}};
}

bool BngFromWgs84::direct() const { return impl_->direct; }

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
  if (impl_->last_direct.load(std::memory_order_relaxed)) return impl_->direct_operation;
  PJ* op = proj().proj_trans_get_last_used_operation(impl_->transform);
  if (!op) return {};
  std::string description = proj().proj_pj_info(op).description ? proj().proj_pj_info(op).description : "";
  proj().proj_destroy(op);
  return description;
}

}  // namespace reportbridge::mapping::functions
