// Write-back throughput over HTTP: N statuses queued in a real state database,
// drained by the real WritebackWorker through HttpStoreSource (PUT per status,
// kept-alive connections, several in flight) into a local server, side by side
// with the obvious alternative: a Python loop PUTting the same statuses one
// after another over one kept-alive connection (http.client).
//
//   reportbridge-writeback-bench [--statuses N] [--connections C] [--batch B]
//                                [--server python|beast]
//
// --server python (default): tests/servers/app_store_server.py, which upserts
// every status into its SQLite store (as the app's back end does).
// --server beast: an in-process server that answers 204 at once (the bridge's
// own ceiling, no store behind it).
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <signal.h>
#include <string>
#include <thread>
#include <vector>

#include "adapters/sources/http_store/http_store_source.hpp"
#include "bridge/pipeline/writeback.hpp"
#include "bridge/store/state_store.hpp"

namespace fs = std::filesystem;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace reportbridge;

namespace {

void sql(sqlite3* db, const char* text) {
  char* err = nullptr;
  if (sqlite3_exec(db, text, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string e = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error("sqlite: " + e);
  }
}

// The app store's tables (shared/contracts/app-store.md section 1).
void create_store(const fs::path& path) {
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sql(db,
      "PRAGMA journal_mode=WAL;"
      "CREATE TABLE submissions (seq INTEGER PRIMARY KEY, id TEXT NOT NULL, version INTEGER NOT NULL,"
      " received_at TEXT NOT NULL, payload TEXT NOT NULL, UNIQUE (id, version));"
      "CREATE TABLE submission_status (submission_id TEXT PRIMARY KEY, state TEXT NOT NULL, reference TEXT,"
      " message TEXT, updated_at TEXT NOT NULL);");
  sqlite3_close(db);
}

long count_statuses(const fs::path& path) {
  sqlite3* db = nullptr;
  sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "SELECT count(*) FROM submission_status", -1, &st, nullptr);
  long n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

std::string id_of(std::size_t i) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012zu", i % 1000000000000);
  return buf;
}

struct PythonServer {
  pid_t pid = -1;
  int port = 0;
  PythonServer(const fs::path& db, const fs::path& dir) {
    const fs::path out = dir / "server.out";
    pid = fork();
    if (pid == 0) {
      FILE* f = std::freopen(out.c_str(), "w", stdout);
      (void)f;
      const std::string script = std::string(REPORTBRIDGE_SOURCE_DIR) + "/tests/servers/app_store_server.py";
      execl("/usr/bin/python3", "python3", script.c_str(), "--db", db.c_str(), static_cast<char*>(nullptr));
      _exit(127);
    }
    for (int i = 0; i < 500 && port == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      std::ifstream in(out);
      std::string word;
      if (in >> word && word == "PORT") in >> port;
    }
    if (port == 0) throw std::runtime_error("app_store_server.py did not start");
  }
  ~PythonServer() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
};

// Answers every request with 204 at once, one thread per connection.
struct BeastServer {
  asio::io_context ctx;
  tcp::acceptor acceptor{ctx, {asio::ip::make_address("127.0.0.1"), 0}};
  std::thread thread;
  int port = acceptor.local_endpoint().port();
  BeastServer() {
    thread = std::thread([this] {
      for (;;) {
        beast::error_code ec;
        tcp::socket s(ctx);
        acceptor.accept(s, ec);
        if (ec) return;
        std::thread([sock = std::move(s)]() mutable {
          beast::flat_buffer buffer;
          for (;;) {
            beast::error_code e;
            http::request<http::string_body> req;
            http::read(sock, buffer, req, e);
            if (e) return;
            http::response<http::empty_body> res{http::status::no_content, req.version()};
            res.keep_alive(req.keep_alive());
            http::write(sock, res, e);
            if (e || !req.keep_alive()) return;
          }
        }).detach();
      }
    });
  }
  ~BeastServer() {
    ::shutdown(acceptor.native_handle(), SHUT_RDWR);  // wakes the blocking accept
    thread.join();
  }
};

// The obvious alternative: a Python loop, one kept-alive connection, one PUT after another.
double python_baseline(int port, std::size_t n, const fs::path& dir) {
  const fs::path script = dir / "baseline.py";
  std::ofstream(script) << "import http.client, json, sys, time\n"
                           "port, n = int(sys.argv[1]), int(sys.argv[2])\n"
                           "c = http.client.HTTPConnection('127.0.0.1', port)\n"
                           "t = time.monotonic()\n"
                           "for i in range(n):\n"
                           "    sid = '00000000-0000-4000-8000-%012d' % (i + 1000000)\n"
                           "    body = json.dumps({'state': 'forwarded', 'reference': 'CLE-%d' % i,\n"
                           "                       'message': 'Passed to the neighbourhood team.'})\n"
                           "    c.request('PUT', '/v1/submissions/%s/status' % sid, body,\n"
                           "              {'Content-Type': 'application/json'})\n"
                           "    r = c.getresponse(); r.read()\n"
                           "    assert r.status == 204, r.status\n"
                           "print(n / (time.monotonic() - t))\n";
  const std::string cmd = "/usr/bin/python3 " + script.string() + " " + std::to_string(port) + " " +
                          std::to_string(n) + " > " + (dir / "baseline.out").string();
  if (std::system(cmd.c_str()) != 0) return 0;
  std::ifstream in(dir / "baseline.out");
  double rate = 0;
  in >> rate;
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t n = 5000, connections = 8, batch = 500;
  std::string server_kind = "python";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--statuses") n = std::stoul(v);
    else if (a == "--connections") connections = std::stoul(v);
    else if (a == "--batch") batch = std::stoul(v);
    else if (a == "--server") server_kind = v;
    else {
      std::cerr << "usage: reportbridge-writeback-bench [--statuses N] [--connections C] [--batch B]"
                   " [--server python|beast]\n";
      return 2;
    }
  }
  const fs::path dir = fs::temp_directory_path() / ("rb-writeback-bench-" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path store_db = dir / "store.db";
  create_store(store_db);
  std::unique_ptr<PythonServer> python;
  std::unique_ptr<BeastServer> beast_server;
  int port = 0;
  if (server_kind == "beast") {
    beast_server = std::make_unique<BeastServer>();
    port = beast_server->port;
  } else {
    python = std::make_unique<PythonServer>(store_db, dir);
    port = python->port;
  }

  auto state_store = store::open_state_store((dir / "state.db").string());
  store::StateStore& state = *state_store;
  {
    auto tx = state.begin_ingest();
    for (std::size_t i = 0; i < n; ++i)
      tx->queue_status({id_of(i), "forwarded", "CLE-26-" + std::to_string(i),
                        "Thank you. Your report has been passed to your neighbourhood policing team.",
                        "2026-11-27T18:00:00Z"},
                       1);
    tx->commit();
  }
  http_store::HttpStoreConfig cfg;
  cfg.base_url = "http://127.0.0.1:" + std::to_string(port);
  cfg.max_connections = connections;
  cfg.spool_dir = dir / "spool";
  http_store::HttpStoreSource source(cfg);
  pipeline::WritebackWorker worker(state, source, batch);

  const auto t0 = std::chrono::steady_clock::now();
  const std::size_t written = worker.drain();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double rate = static_cast<double>(written) / secs;
  std::printf("bridge: %zu statuses in %.2f s = %.0f statuses/s (server %s, %zu connections, batch %zu)\n", written,
              secs, rate, server_kind.c_str(), connections, batch);
  if (python) {
    const long stored = count_statuses(store_db);
    std::printf("store holds %ld statuses (expected %zu)\n", stored, n);
    const double base = python_baseline(port, std::min<std::size_t>(n, 2000), dir);
    if (base > 0)
      std::printf("baseline (Python http.client, one kept-alive connection, sequential): %.0f statuses/s; "
                  "bridge/baseline = %.1fx\n",
                  base, rate / base);
  }
  fs::remove_all(dir);
  return written == n ? 0 : 1;
}
