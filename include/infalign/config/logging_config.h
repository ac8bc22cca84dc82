// The `logging` section: console and file logging, progress lines and metrics.
#pragma once

#include <cstdint>

namespace infalign::config {

// spdlog level names.
enum class LogLevel { Trace, Debug, Info, Warn, Error };

struct LoggingConfig {
  // Least severe level printed: trace, debug, info, warn or error.
  LogLevel level = LogLevel::Info;
  // Also write <run_dir>/train.log.
  bool log_file = true;
  // Seconds between progress lines when stdout is not a terminal.
  double progress_interval_seconds = 10.0;
};

}  // namespace infalign::config
