#pragma once
// Logging for the journal: systemd connects stderr to journald, which reads a
// "<N>" prefix (syslog priority, as in sd-daemon.h) at the start of each line
// as the entry's PRIORITY and adds its own timestamp.
#include <spdlog/sinks/sink.h>

#include <memory>
#include <string>

namespace reportbridge::service {

// True when `fd` is the journal stream systemd set up ($JOURNAL_STREAM names
// its device and inode), i.e. the service runs under systemd with the journal.
bool is_journal_stream(int fd = 2);

// A sink writing "<N>" + the formatted message + "\n" to `fd`, one write(2)
// per line. Default pattern "%v" (the journal adds time and identity);
// `prefix` goes before each message (a fleet member's "instance=NAME ").
std::shared_ptr<spdlog::sinks::sink> make_journal_sink(int fd = 2, const std::string& prefix = {});

// The sd-daemon priority for a spdlog level: critical 2, error 3, warn 4,
// info 6, debug and trace 7.
int journal_priority(int spdlog_level);

}  // namespace reportbridge::service
