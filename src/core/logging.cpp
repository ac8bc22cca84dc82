#include "infalign/core/logging.h"

#include <memory>
#include <mutex>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "infalign/core/error.h"

namespace infalign::log {

namespace {

constexpr const char* kPattern = "[%Y-%m-%d %H:%M:%S.%e] [%l] %v";

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::Trace:
      return spdlog::level::trace;
    case Level::Debug:
      return spdlog::level::debug;
    case Level::Info:
      return spdlog::level::info;
    case Level::Warn:
      return spdlog::level::warn;
    case Level::Error:
      return spdlog::level::err;
    case Level::Off:
      return spdlog::level::off;
  }
  return spdlog::level::info;
}

std::mutex& logger_mutex() {
  static std::mutex m;
  return m;
}

std::shared_ptr<spdlog::logger>& logger_slot() {
  static std::shared_ptr<spdlog::logger> logger;
  return logger;
}

std::shared_ptr<spdlog::logger> make_logger(Level level, const std::string& file_path) {
  std::vector<spdlog::sink_ptr> sinks;
  sinks.push_back(std::make_shared<spdlog::sinks::stderr_sink_mt>());
  if (!file_path.empty()) {
    try {
      sinks.push_back(std::make_shared<spdlog::sinks::basic_file_sink_mt>(file_path));
    } catch (const spdlog::spdlog_ex& e) {
      throw Error(fmt::format("cannot open log file {}: {}", file_path, e.what()));
    }
  }
  auto logger = std::make_shared<spdlog::logger>("infalign", sinks.begin(), sinks.end());
  logger->set_pattern(kPattern);
  logger->set_level(to_spdlog(level));
  logger->flush_on(spdlog::level::info);
  return logger;
}

std::shared_ptr<spdlog::logger> current() {
  std::lock_guard<std::mutex> lock(logger_mutex());
  auto& slot = logger_slot();
  if (!slot) slot = make_logger(Level::Info, "");
  return slot;
}

}  // namespace

void init_logging(const LoggingOptions& options) {
  auto logger = make_logger(options.level, options.file_path);
  std::lock_guard<std::mutex> lock(logger_mutex());
  if (logger_slot()) logger_slot()->flush();
  logger_slot() = std::move(logger);
}

void shutdown_logging() {
  const Level level = enabled(Level::Trace)   ? Level::Trace
                      : enabled(Level::Debug) ? Level::Debug
                      : enabled(Level::Info)  ? Level::Info
                      : enabled(Level::Warn)  ? Level::Warn
                                              : Level::Error;
  init_logging({level, ""});
}

void set_level(Level level) { current()->set_level(to_spdlog(level)); }

bool enabled(Level level) { return current()->should_log(to_spdlog(level)); }

void write(Level level, std::string_view message) { current()->log(to_spdlog(level), message); }

void flush() { current()->flush(); }

}  // namespace infalign::log
