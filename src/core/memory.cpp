#include "infalign/core/memory.h"

#include <malloc.h>

#include <atomic>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "infalign/core/logging.h"

namespace infalign {

HostMemory host_memory() {
  HostMemory m;
  auto field = [](const std::string& file, const std::string& key) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(key, 0) == 0) {
        std::istringstream rest(line.substr(key.size()));
        double kib = 0;
        rest >> kib;
        return kib * 1024.0;
      }
    }
    return 0.0;
  };
  m.rss = field("/proc/self/status", "VmRSS:");
  m.peak_rss = field("/proc/self/status", "VmHWM:");
  m.available = field("/proc/meminfo", "MemAvailable:");
  return m;
}

namespace {
std::atomic<bool> g_release{false};
}  // namespace

void release_free_memory() {
  if (g_release.load(std::memory_order_relaxed)) ::malloc_trim(0);
}
void set_release_free_memory(bool enabled) { g_release = enabled; }

void log_memory(const std::string& where) {
  if (!log::enabled(log::Level::Debug)) return;
  const HostMemory m = host_memory();
  log::debug("[mem] after {}: RSS {}, peak RSS {}", where, format_bytes(m.rss),
             format_bytes(m.peak_rss));
}

std::string format_bytes(double bytes) {
  constexpr double kMiB = 1024.0 * 1024.0, kGiB = kMiB * 1024.0;
  if (bytes >= kGiB) return fmt::format("{:.2f} GiB", bytes / kGiB);
  return fmt::format("{:.0f} MiB", bytes / kMiB);
}

}  // namespace infalign
