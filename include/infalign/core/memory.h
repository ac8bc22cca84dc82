// The memory this process and its machine have, from Linux's /proc, and byte counts as text.
#pragma once

#include <string>

namespace infalign {

// Resident and peak resident bytes of this process, and the memory the kernel says is available
// to start new work (MemAvailable); 0 where unknown.
struct HostMemory {
  double rss = 0, peak_rss = 0, available = 0;
};
HostMemory host_memory();

// Gives the C heap's free memory back to the system (malloc_trim) when enabled: called between
// PPO phases, so that one phase's freed temporaries do not stay resident through the next. Off
// by default, because the next phase then faults those pages in again: measured on the default
// PPO run, trimming between phases made an iteration 2x slower (docs/memory.md). The run enables
// it when its planned peak is over half the memory it may use (app/run.cpp).
void release_free_memory();
void set_release_free_memory(bool enabled);

// Logs (at debug level) the process's resident and peak resident memory after `where`.
void log_memory(const std::string& where);

// "12.3 GiB" / "456 MiB".
std::string format_bytes(double bytes);

}  // namespace infalign
