#pragma once
// Runs tests/servers/app_store_server.py for one test and generates TLS
// material with the openssl CLI. Header-only, used by the http_store tests.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/temp_dir.hpp"

namespace reportbridge::testing {

struct ServerOptions {
  std::string db;
  std::string media_root;
  std::string token_file;
  std::string faults;
  std::string request_log;
  std::string tls_cert, tls_key, client_ca;
};

class AppStoreServer {
 public:
  AppStoreServer(const ServerOptions& o, const std::filesystem::path& dir) {
    static int counter = 0;
    const std::string tag = std::to_string(++counter);
    out_ = (dir / ("server" + tag + ".out")).string();
    err_ = (dir / ("server" + tag + ".err")).string();
    std::vector<std::string> argv{"/usr/bin/python3",
                                  std::string(REPORTBRIDGE_SOURCE_DIR) + "/tests/servers/app_store_server.py",
                                  "--db", o.db};
    const auto add = [&](const char* flag, const std::string& value) {
      if (!value.empty()) {
        argv.push_back(flag);
        argv.push_back(value);
      }
    };
    add("--media-root", o.media_root);
    add("--token-file", o.token_file);
    add("--faults", o.faults);
    add("--request-log", o.request_log);
    add("--tls-cert", o.tls_cert);
    add("--tls-key", o.tls_key);
    add("--client-ca", o.client_ca);
    pid_ = spawn_process(argv, out_, err_);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (std::chrono::steady_clock::now() < deadline) {
      std::string text = std::filesystem::exists(out_) ? read_file(out_) : "";
      if (auto at = text.find("PORT "); at != std::string::npos && text.find('\n', at) != std::string::npos) {
        port_ = std::stoi(text.substr(at + 5));
        return;
      }
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("test server exited: " + read_file(err_));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("test server did not start");
  }
  ~AppStoreServer() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      wait_process(pid_);
    }
  }
  AppStoreServer(const AppStoreServer&) = delete;
  AppStoreServer& operator=(const AppStoreServer&) = delete;

  int port() const { return port_; }
  std::string url(const std::string& host = "127.0.0.1", bool tls = false) const {
    return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(port_);
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string out_, err_;
};

// Runs openssl; throws with its stderr on failure.
inline void openssl(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/usr/bin/openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = run_process(argv);
  if (r.exit_code != 0) throw std::runtime_error("openssl failed: " + r.err);
}

// A CA (<name>.pem/.key) in `dir`.
inline void make_ca(const std::filesystem::path& dir, const std::string& name) {
  openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", (dir / (name + ".key")).string(), "-out", (dir / (name + ".pem")).string(),
           "-days", "2", "-subj", "/CN=" + name, "-addext", "basicConstraints=critical,CA:TRUE",
           "-addext", "keyUsage=critical,keyCertSign,cRLSign"});
}

// A leaf certificate <name>.pem/.key signed by CA `ca`, with the given SAN and usage.
inline void make_leaf(const std::filesystem::path& dir, const std::string& ca, const std::string& name,
                      const std::string& san, const std::string& usage) {
  const auto p = [&](const std::string& f) { return (dir / f).string(); };
  openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
           p(name + ".key"), "-out", p(name + ".csr"), "-subj", "/CN=" + name});
  write_file(dir / (name + ".ext"), "basicConstraints=CA:FALSE\nextendedKeyUsage=" + usage +
                                        (san.empty() ? "" : "\nsubjectAltName=" + san) + "\n");
  openssl({"x509", "-req", "-in", p(name + ".csr"), "-CA", p(ca + ".pem"), "-CAkey", p(ca + ".key"),
           "-CAcreateserial", "-out", p(name + ".pem"), "-days", "2", "-extfile", p(name + ".ext")});
}

}  // namespace reportbridge::testing
