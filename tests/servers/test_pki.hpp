#pragma once
// A throw-away PKI for TLS tests, made with the openssl CLI in a temp folder:
// ca.pem/ca.key, server.pem/server.key (CN and SAN DNS:localhost only, so
// https://127.0.0.1 is a host name mismatch), client.pem/client.key (CN
// reportbridge-test-client), and other_ca.pem (a CA that signed nothing here).
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace reportbridge::testing {

inline void make_test_pki(const std::filesystem::path& dir) {
  const std::string d = dir.string();
  const std::string script =
      "set -e; cd '" + d + "'; exec >/dev/null 2>&1\n"
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=rb-test-ca\n"
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout other_ca.key -out other_ca.pem -days 2 -subj /CN=rb-other-ca\n"
      "printf 'subjectAltName=DNS:localhost\\nbasicConstraints=CA:FALSE\\n' > server.ext\n"
      "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr -subj /CN=localhost\n"
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
      "-extfile server.ext\n"
      "printf 'basicConstraints=CA:FALSE\\nextendedKeyUsage=clientAuth\\n' > client.ext\n"
      "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout client.key -out client.csr -subj /CN=reportbridge-test-client\n"
      "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 "
      "-extfile client.ext\n";
  const std::string path = d + "/make.sh";
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) throw std::runtime_error("cannot write " + path);
  std::fputs(script.c_str(), f);
  std::fclose(f);
  if (std::system(("sh '" + path + "'").c_str()) != 0) throw std::runtime_error("openssl failed in " + d);
}

}  // namespace reportbridge::testing
