// SoapSink against the spyne RMS server (tests/servers/rms_spyne_server.py) and
// the misbehaving loopback server (tests/servers/faulty_server.py).
#include <catch2/catch.hpp>

#include <thread>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <boost/json.hpp>
#include <map>

#include "adapters/sinks/soap/soap_sink.hpp"
#include "bridge/net/url.hpp"
#include "tests/servers/server_process.hpp"
#include "tests/servers/test_pki.hpp"
#include "tests/support/temp_dir.hpp"

using namespace reportbridge;
using namespace reportbridge::soap;
using core::DeliveryStatus;
using testing::ServerProcess;

namespace {

const std::string kXsd = std::string(REPORTBRIDGE_SOURCE_DIR) + "/tests/unit/soap/fixtures/test_report.xsd";

std::vector<std::string> server_args(const std::string& script, std::vector<std::string> extra = {}) {
  std::vector<std::string> a{testing::python(), testing::server_script(script), "0"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

ServerProcess& rms() {
  static ServerProcess s(server_args("rms_spyne_server.py", {"--xsd", kXsd}));
  return s;
}
ServerProcess& faulty() {
  static ServerProcess s(server_args("faulty_server.py"));
  return s;
}

core::TargetRecord record(const std::string& id, std::int64_t version = 1, const std::string& postcode = "TS1 3QY") {
  core::TargetRecord r;
  r.submission_id = id;
  r.version = version;
  r.mapping = "m";
  r.target = "rms";
  r.fields = {{"SubmissionId", id}, {"Summary", "Group throwing stones v" + std::to_string(version)},
              {"Postcode", postcode}};
  return r;
}

SoapConfig config_for(const std::string& url) {
  SoapConfig c;
  c.name = "rms";
  c.url = url;
  c.schema = kXsd;
  c.layout.root = "CommunityReport";
  c.layout.attachments_path = "Attachments/Attachment";
  c.update = {"UpdateCommunityReport", "UpdateCommunityReport",
              "//svc:UpdateCommunityReportResponse/svc:LegacyReference"};
  c.lookup = {"FindByExternalReference", "FindByExternalReference",
              "//svc:FindByExternalReferenceResponse[svc:Found='true']/svc:LegacyReference"};
  c.create.soap_action = "CreateCommunityReport";
  c.http.connect_timeout = std::chrono::milliseconds(2000);
  c.http.read_timeout = std::chrono::milliseconds(2000);
  c.http.total_timeout = std::chrono::milliseconds(5000);
  c.http.max_connections = 4;
  c.settle_time = std::chrono::milliseconds(0);  // (the settle time has its own test)
  return c;
}

core::DeliveryBatch batch_of(std::vector<core::DeliveryItem> items, const std::string& key = "k") {
  core::DeliveryBatch b;
  b.key = key;
  for (std::size_t i = 0; i < items.size(); ++i) items[i].outbox_id = static_cast<std::int64_t>(i + 1);
  b.items = std::move(items);
  return b;
}

core::DeliveryItem item(core::TargetRecord r, std::string prior = {}, bool in_doubt = false) {
  core::DeliveryItem i;
  i.record = std::move(r);
  i.prior_reference = std::move(prior);
  i.in_doubt = in_doubt;
  return i;
}

boost::json::value http_json(const std::string& url, const std::string& method = "GET") {
  net::HttpClientConfig c;
  c.base_url = url;
  net::HttpClient client(c);
  net::Request r;
  r.method = method;
  r.target = net::parse_url(url)->target;
  auto res = client.send(r);
  REQUIRE(res.status == 200);
  return boost::json::parse(res.body);
}

// external reference -> number of records (creates) holding it
std::map<std::string, int> creates_by_external(ServerProcess& s) {
  std::map<std::string, int> out;
  auto dump = http_json(s.url("/dump"));
  for (const auto& rec : dump.at("records").as_array())
    for (const auto& v : rec.at("versions").as_array())
      if (v.at("operation").as_string() == "create") ++out[std::string(v.at("external_reference").as_string())];
  return out;
}

boost::json::object record_by_ref(ServerProcess& s, const std::string& ref) {
  auto dump = http_json(s.url("/dump"));
  for (const auto& rec : dump.at("records").as_array())
    if (rec.at("legacy_reference").as_string() == ref) return rec.as_object();
  return {};
}

std::int64_t calls(ServerProcess& s, const char* what) {
  return http_json(s.url("/dump")).at("calls").at(what).as_int64();
}

std::string sha256_hex(const std::string& data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  char hex[65];
  for (int i = 0; i < 32; ++i) std::snprintf(hex + 2 * i, 3, "%02x", md[i]);
  return std::string(hex, 64);
}

}  // namespace

TEST_CASE("a batch is created once each, with the legacy references returned") {
  SoapSink sink(config_for(rms().url("/rms")), nullptr);
  std::vector<core::DeliveryItem> items;
  for (int i = 0; i < 12; ++i) items.push_back(item(record("create-" + std::to_string(i))));
  auto out = sink.deliver(batch_of(items));
  REQUIRE(out.size() == 12);
  for (const auto& o : out) {
    CHECK(o.status == DeliveryStatus::delivered);
    CHECK(o.reference.rfind("RMS-26-", 0) == 0);
    CHECK(o.latency_ms > 0);
  }
  auto seen = creates_by_external(rms());
  for (int i = 0; i < 12; ++i) CHECK(seen["create-" + std::to_string(i) + ":1"] == 1);
  CHECK(sink.connections_opened() <= 4);
}

TEST_CASE("SOAP 1.2 works against the same service") {
  auto c = config_for(rms().url("/rms"));
  c.version = SoapVersion::v12;
  SoapSink sink(c, nullptr);
  auto out = sink.deliver(batch_of({item(record("soap12-a"))}));
  CHECK(out[0].status == DeliveryStatus::delivered);
  CHECK(creates_by_external(rms())["soap12-a:1"] == 1);
}

TEST_CASE("a new version updates the record with the prior reference") {
  SoapSink sink(config_for(rms().url("/rms")), nullptr);
  auto first = sink.deliver(batch_of({item(record("upd-1"))}));
  REQUIRE(first[0].status == DeliveryStatus::delivered);
  const std::string ref = first[0].reference;
  const auto updates = calls(rms(), "update");
  auto second = sink.deliver(batch_of({item(record("upd-1", 2), ref)}));
  CHECK(second[0].status == DeliveryStatus::delivered);
  CHECK(second[0].reference == ref);
  CHECK(calls(rms(), "update") == updates + 1);
  auto rec = record_by_ref(rms(), ref);
  REQUIRE(rec.at("versions").as_array().size() == 2);
  CHECK(rec.at("versions").as_array()[1].at("operation").as_string() == "update");
  CHECK(rec.at("versions").as_array()[1].at("external_reference").as_string() == "upd-1:2");
  CHECK(creates_by_external(rms()).count("upd-1:2") == 0);

  SECTION("an unknown prior reference is a client fault: rejected") {
    auto out = sink.deliver(batch_of({item(record("upd-1", 3), "RMS-26-999999")}));
    CHECK(out[0].status == DeliveryStatus::reject);
    CHECK(out[0].reason_code == "soap_client_fault");
  }
  SECTION("no update operation configured") {
    auto c = config_for(rms().url("/rms"));
    c.update = {};
    SoapSink plain(c, nullptr);
    auto out = plain.deliver(batch_of({item(record("upd-1", 3), ref)}));
    CHECK(out[0].reason_code == "update_unsupported");
  }
}

TEST_CASE("in doubt: a drop after the request, then a lookup instead of a second create") {
  SoapSink sink(config_for(rms().url("/rms")), nullptr);
  http_json(rms().url("/control?drop_next=2"), "POST");
  std::vector<core::DeliveryItem> items{item(record("doubt-a")), item(record("doubt-b"))};
  auto out = sink.deliver(batch_of(items, "doubt"));
  for (const auto& o : out) {
    CHECK(o.status == DeliveryStatus::retry);
    CHECK(o.in_doubt);
  }
  // The server did create both: the same batch comes again, marked in doubt.
  CHECK(creates_by_external(rms())["doubt-a:1"] == 1);
  for (auto& i : items) i.in_doubt = true;
  items.push_back(item(record("doubt-c"), {}, true));  // in doubt but never arrived: looked up, then sent
  const auto finds = calls(rms(), "find");
  out = sink.deliver(batch_of(items, "doubt"));
  for (const auto& o : out) CHECK(o.status == DeliveryStatus::delivered);
  CHECK(calls(rms(), "find") == finds + 3);
  auto seen = creates_by_external(rms());
  CHECK(seen["doubt-a:1"] == 1);  // nothing twice
  CHECK(seen["doubt-b:1"] == 1);
  CHECK(seen["doubt-c:1"] == 1);  // nothing lost
  CHECK(out[0].reference == record_by_ref(rms(), out[0].reference).at("legacy_reference").as_string());
}

TEST_CASE("in doubt: no lookup nor resend before the settle time, default request_timeout + read_timeout") {
  auto c = config_for(rms().url("/rms"));
  c.settle_time.reset();
  CHECK(SoapSink(c, nullptr).settle_time() == std::chrono::milliseconds(7000));
  c.settle_time = std::chrono::milliseconds(1500);
  SoapSink sink(c, nullptr);
  http_json(rms().url("/control?drop_next=1"), "POST");
  auto out = sink.deliver(batch_of({item(record("settle-a"))}));
  REQUIRE(out[0].status == DeliveryStatus::retry);
  REQUIRE(out[0].in_doubt);
  CHECK(creates_by_external(rms())["settle-a:1"] == 1);  // it did arrive
  // Handed again at once (a quick retry or a restart): deferred, nothing asked or sent.
  const auto finds = calls(rms(), "find");
  out = sink.deliver(batch_of({item(record("settle-a"), {}, true)}));
  CHECK(out[0].status == DeliveryStatus::retry);
  CHECK(out[0].reason_code == "in_doubt_settling");
  CHECK(out[0].deferred);
  CHECK(calls(rms(), "find") == finds);
  std::this_thread::sleep_for(std::chrono::milliseconds(1600));
  out = sink.deliver(batch_of({item(record("settle-a"), {}, true)}));
  REQUIRE(out[0].status == DeliveryStatus::delivered);
  CHECK(calls(rms(), "find") == finds + 1);
  CHECK(creates_by_external(rms())["settle-a:1"] == 1);  // found, not sent twice
}

TEST_CASE("in doubt without a lookup operation: hold or resend as configured") {
  auto c = config_for(rms().url("/rms"));
  c.lookup = {};
  c.in_doubt = InDoubtPolicy::hold;
  SoapSink hold(c, nullptr);
  auto out = hold.deliver(batch_of({item(record("hold-a"), {}, true), item(record("hold-b"))}));
  CHECK(out[0].status == DeliveryStatus::reject);
  CHECK(out[0].reason_code == "in_doubt");
  CHECK(out[1].status == DeliveryStatus::delivered);
  CHECK(creates_by_external(rms()).count("hold-a:1") == 0);

  c.in_doubt = InDoubtPolicy::resend;
  SoapSink resend(c, nullptr);
  out = resend.deliver(batch_of({item(record("hold-a"), {}, true)}));
  CHECK(out[0].status == DeliveryStatus::delivered);
  CHECK(creates_by_external(rms())["hold-a:1"] == 1);
}

TEST_CASE("a schema-invalid record is rejected with line and never sent, the others go") {
  SoapSink sink(config_for(rms().url("/rms")), nullptr);
  auto out = sink.deliver(batch_of({item(record("poison-ok-1")), item(record("poison-bad", 1, "not a postcode")),
                                    item(record("poison-ok-2"))}));
  CHECK(out[0].status == DeliveryStatus::delivered);
  CHECK(out[2].status == DeliveryStatus::delivered);
  CHECK(out[1].status == DeliveryStatus::reject);
  CHECK(out[1].reason_code == "schema_invalid");
  CHECK(out[1].detail.find("line ") != std::string::npos);
  CHECK(out[1].detail.find("Postcode") != std::string::npos);
  CHECK(creates_by_external(rms()).count("poison-bad:1") == 0);
  CHECK_THROWS_WITH(sink.encode_preview(record("poison-bad", 1, "nope")), Catch::Contains("schema_invalid"));

  auto unknown = record("poison-field");
  unknown.fields.push_back({"NoSuchElement", "x"});
  out = sink.deliver(batch_of({item(unknown)}));
  CHECK(out[0].status == DeliveryStatus::reject);
  CHECK(out[0].reason_code == "unknown_field");
}

TEST_CASE("attachments: inline base64 streamed, large ones by reference, mismatches rejected") {
  testing::TempDir dir;
  std::string small(70000, '\0');
  for (std::size_t i = 0; i < small.size(); ++i) small[i] = static_cast<char>(i * 13 % 256);
  testing::write_file(dir / "small.jpg", small);
  testing::write_file(dir / "big.mp4", std::string(5000, 'v'));
  auto c = config_for(rms().url("/rms"));
  c.max_inline_bytes = 100000;
  c.attachment_reference = "media://{submission_id}/{id}";
  auto locator = [&](const core::AttachmentRef& a) {
    if (a.path.find("..") != std::string::npos) throw std::runtime_error("unsafe path");
    return dir.path() / a.path;
  };
  SoapSink sink(c, locator);
  auto r = record("att-1");
  r.attachments = {{"a1", "IMG_1.jpg", "image/jpeg", small.size(), sha256_hex(small), "small.jpg"},
                   {"a2", "VID.mp4", "video/mp4", 200000, "", "big.mp4"}};  // over the inline limit
  auto bad_hash = record("att-2");
  bad_hash.attachments = {{"b1", "x.jpg", "image/jpeg", small.size(), std::string(64, '0'), "small.jpg"}};
  auto missing = record("att-3");
  missing.attachments = {{"c1", "x.jpg", "image/jpeg", 1, "", "../etc/passwd"}};
  auto out = sink.deliver(batch_of({item(r), item(bad_hash), item(missing)}));
  REQUIRE(out[0].status == DeliveryStatus::delivered);
  CHECK(out[1].reason_code == "attachment_mismatch");
  CHECK(out[2].reason_code == "attachment_unavailable");
  auto rec = record_by_ref(rms(), out[0].reference);
  const std::string xml(rec.at("versions").as_array()[0].at("xml").as_string());
  std::string b64(4 * ((small.size() + 2) / 3) + 1, '\0');
  b64.resize(static_cast<std::size_t>(EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                                                      reinterpret_cast<const unsigned char*>(small.data()),
                                                      static_cast<int>(small.size()))));
  CHECK(xml.find(">" + b64 + "</") != std::string::npos);
  CHECK(xml.find("media://att-1/a2") != std::string::npos);
  CHECK(creates_by_external(rms()).count("att-2:1") == 0);

  const std::string preview = sink.encode_preview(r);
  CHECK(preview.find("(base64 of attachment a1, 70000 bytes)") != std::string::npos);
  CHECK(preview.find("<svc:ExternalReference>att-1:1</svc:ExternalReference>") != std::string::npos);
}

TEST_CASE("max_request_size: attachments are inlined only while the request fits, a request too large is not sent") {
  // The spyne RMS refuses requests over 2 MiB (spyne's own limit): three
  // 800 kB photos inline (about 3.2 MB of base64) are refused by it; with
  // max_request_size 2MiB the first goes inline, the others by reference.
  testing::TempDir dir;
  std::string photo(800000, '\0');
  for (std::size_t i = 0; i < photo.size(); ++i) photo[i] = static_cast<char>(i * 31 % 251);
  testing::write_file(dir / "p.jpg", photo);
  const auto sha = sha256_hex(photo);
  auto locator = [&](const core::AttachmentRef& a) { return dir.path() / a.path; };
  auto three = [&](const std::string& id) {
    auto r = record(id);
    for (const char* a : {"p1", "p2", "p3"}) r.attachments.push_back({a, "p.jpg", "image/jpeg", photo.size(), sha, "p.jpg"});
    return r;
  };
  auto c = config_for(rms().url("/rms"));
  c.attachment_reference = "app-media:{id}";
  {
    SoapSink unlimited(c, locator);
    auto out = unlimited.deliver(batch_of({item(three("size-unlimited"))}));
    CHECK(out[0].status == DeliveryStatus::reject);  // the target's own limit
    CHECK(out[0].detail.find("too long") != std::string::npos);
  }
  c.max_request_bytes = 2u << 20;
  SoapSink sink(c, locator);
  auto out = sink.deliver(batch_of({item(three("size-fits"))}));
  REQUIRE(out[0].status == DeliveryStatus::delivered);
  const std::string xml(record_by_ref(rms(), out[0].reference).at("versions").as_array()[0].at("xml").as_string());
  CHECK(xml.size() <= (2u << 20));
  std::size_t contents = 0;
  for (auto at = xml.find("Content>"); at != std::string::npos; at = xml.find("Content>", at + 1)) ++contents;
  CHECK(contents == 2);  // one <Content>...</Content> pair: p1 inline
  CHECK(xml.find("app-media:p1") == std::string::npos);
  CHECK(xml.find("app-media:p2") != std::string::npos);
  CHECK(xml.find("app-media:p3") != std::string::npos);

  c.max_request_bytes = 200;  // not even the record fits: refused here, never sent
  SoapSink tiny(c, locator);
  out = tiny.deliver(batch_of({item(record("size-tiny"))}));
  CHECK(out[0].status == DeliveryStatus::reject);
  CHECK(out[0].reason_code == "request_too_large");
  CHECK(creates_by_external(rms()).count("size-tiny:1") == 0);
}

TEST_CASE("HTTP basic auth and WS-Security are accepted, wrong secrets are rejected") {
  testing::TempDir dir;
  testing::write_secret_file(dir / "pw", "s3cret-pw\n");
  testing::write_secret_file(dir / "wrong", "nope\n");
  ServerProcess secured(server_args("rms_spyne_server.py", {"--basic", "bridge:s3cret-pw", "--wsse", "bridge:s3cret-pw"}));
  auto c = config_for(secured.url("/rms"));
  c.username = "bridge";
  c.password_file = dir / "pw";
  c.basic_auth = true;
  for (auto mode : {WsseMode::text, WsseMode::digest}) {
    c.wsse = mode;
    SoapSink sink(c, nullptr);
    const std::string id = mode == WsseMode::text ? "auth-text" : "auth-digest";
    auto out = sink.deliver(batch_of({item(record(id))}));
    CHECK(out[0].status == DeliveryStatus::delivered);
    CHECK(creates_by_external(secured)[id + ":1"] == 1);
    CHECK(sink.encode_preview(record(id)).find("s3cret") == std::string::npos);
  }
  SECTION("wrong basic password: 401") {
    auto w = c;
    w.password_file = dir / "wrong";
    SoapSink sink(w, nullptr);
    CHECK(sink.deliver(batch_of({item(record("auth-x"))}))[0].reason_code == "auth_failed");
  }
  SECTION("no WS-Security header: client fault") {
    auto w = c;
    w.wsse = WsseMode::none;
    SoapSink sink(w, nullptr);
    CHECK(sink.deliver(batch_of({item(record("auth-y"))}))[0].reason_code == "soap_client_fault");
  }
  SECTION("auth without a password file is a configuration error") {
    auto w = c;
    w.password_file.clear();
    CHECK_THROWS_AS(SoapSink(w, nullptr), std::invalid_argument);
    w.password_file = dir / "missing";
    CHECK_THROWS_AS(SoapSink(w, nullptr), std::runtime_error);
  }
}

TEST_CASE("faults and misbehaviour are classified, nothing is lost") {
  struct Case {
    std::string path;
    SoapVersion version;
    DeliveryStatus status;
    std::string code;
    bool in_doubt;
    long retry_after;
  };
  const std::vector<Case> cases = {
      {"/ok", SoapVersion::v11, DeliveryStatus::delivered, "", false, 0},
      {"/hang?ms=3000", SoapVersion::v11, DeliveryStatus::retry, "timeout", true, 0},
      {"/reset", SoapVersion::v11, DeliveryStatus::retry, "connection_reset", true, 0},
      {"/drop", SoapVersion::v11, DeliveryStatus::retry, "connection_reset", true, 0},
      {"/500", SoapVersion::v11, DeliveryStatus::retry, "http_5xx", false, 0},
      {"/400", SoapVersion::v11, DeliveryStatus::reject, "http_status", false, 0},
      {"/fault-client", SoapVersion::v11, DeliveryStatus::reject, "soap_client_fault", false, 0},
      {"/fault-server", SoapVersion::v11, DeliveryStatus::retry, "soap_server_fault", false, 0},
      {"/fault-client", SoapVersion::v12, DeliveryStatus::reject, "soap_client_fault", false, 0},
      {"/fault-server", SoapVersion::v12, DeliveryStatus::retry, "soap_server_fault", false, 0},
      {"/slow?ms=300", SoapVersion::v11, DeliveryStatus::delivered, "", false, 0},
      {"/429?after=7", SoapVersion::v11, DeliveryStatus::retry, "http_throttled", false, 7},
      {"/503?after=3", SoapVersion::v11, DeliveryStatus::retry, "http_5xx", false, 3},
      {"/xxe", SoapVersion::v11, DeliveryStatus::reject, "bad_response", false, 0},
      {"/laughs", SoapVersion::v11, DeliveryStatus::reject, "bad_response", false, 0},
      {"/oversize?bytes=3000000", SoapVersion::v11, DeliveryStatus::reject, "bad_response", false, 0},
  };
  for (const auto& tc : cases) {
    INFO(tc.path << " SOAP " << (tc.version == SoapVersion::v11 ? "1.1" : "1.2"));
    auto c = config_for(faulty().url(tc.path));
    c.version = tc.version;
    c.http.read_timeout = std::chrono::milliseconds(400);
    c.http.max_response_bytes = 1 << 20;
    c.lookup = {};
    SoapSink sink(c, nullptr);
    auto out = sink.deliver(batch_of({item(record("fault-1")), item(record("fault-2"))}));
    REQUIRE(out.size() == 2);  // one outcome per item, whatever happened
    for (const auto& o : out) {
      CHECK(o.status == tc.status);
      CHECK(o.reason_code == tc.code);
      CHECK(o.in_doubt == tc.in_doubt);
      CHECK(o.retry_after.count() == tc.retry_after);
      if (o.status == DeliveryStatus::delivered) CHECK(!o.reference.empty());
      if (tc.path == "/xxe") CHECK(o.detail.find("root:") == std::string::npos);  // /etc/passwd never read
    }
  }
  SECTION("connection refused: retry, not in doubt") {
    auto c = config_for("http://127.0.0.1:1/rms");
    SoapSink sink(c, nullptr);
    auto out = sink.deliver(batch_of({item(record("refused"))}));
    CHECK(out[0].status == DeliveryStatus::retry);
    CHECK(out[0].reason_code == "connect_failed");
    CHECK_FALSE(out[0].in_doubt);
  }
}

TEST_CASE("TLS to the target: hostname mismatch refused, mutual TLS works") {
  testing::TempDir dir;
  testing::make_test_pki(dir.path());
  const std::string d = dir.path().string();
  ServerProcess tls(server_args("faulty_server.py", {"--cert", d + "/server.pem", "--key", d + "/server.key",
                                                     "--client-ca", d + "/ca.pem"}));
  auto c = config_for(tls.url("/ok", "localhost", "https"));
  c.http.tls.ca_file = dir / "ca.pem";
  c.http.tls.client_cert = dir / "client.pem";
  c.http.tls.client_key = dir / "client.key";
  {
    SoapSink sink(c, nullptr);
    auto out = sink.deliver(batch_of({item(record("tls-1"))}));
    CHECK(out[0].status == DeliveryStatus::delivered);
  }
  c.url = tls.url("/ok", "127.0.0.1", "https");
  SoapSink mismatch(c, nullptr);
  auto out = mismatch.deliver(batch_of({item(record("tls-2"))}));
  CHECK(out[0].status == DeliveryStatus::retry);
  CHECK(out[0].reason_code == "tls_verify_failed");
  CHECK_FALSE(out[0].in_doubt);
}

TEST_CASE("bad configurations are refused at construction") {
  auto c = config_for("ftp://x/");
  CHECK_THROWS_AS(SoapSink(c, nullptr), std::invalid_argument);
  c = config_for("http://127.0.0.1:1/");
  c.create.reference_xpath = "//[";
  CHECK_THROWS_AS(SoapSink(c, nullptr), std::invalid_argument);
  c = config_for("http://127.0.0.1:1/");
  c.layout.root = "NoSuchRoot";
  CHECK_THROWS_AS(SoapSink(c, nullptr), std::invalid_argument);
  c = config_for("http://127.0.0.1:1/");
  c.schema = "/nonexistent.xsd";
  CHECK_THROWS(SoapSink(c, nullptr));
}
