// Progress line for long loops: done/total, rate, ETA and a few key numbers in a fixed order.
// On a terminal it is redrawn in place on stderr; otherwise it becomes a plain `info` log line
// every `interval_seconds` (and once at the end).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace infalign {

struct ProgressOptions {
  // Area tag without brackets, e.g. "ppo".
  std::string tag = "run";
  // What one unit of `done` is called, e.g. "step", "sample".
  std::string unit = "step";
  // Seconds between plain log lines when not redrawing in place.
  double interval_seconds = 10.0;
  // Redraw in place: auto-detected from whether stderr is a terminal unless set.
  std::optional<bool> interactive = std::nullopt;
  // Units done before this loop started (a resumed run): they count towards done/total but not
  // towards the rate and the eta.
  std::int64_t already_done = 0;
};

class Progress {
 public:
  using Clock = std::function<double()>;  // monotonic seconds
  using Sink = std::function<void(const std::string& line, bool in_place)>;

  // `clock` and `sink` default to the steady clock and stderr/log output; tests inject both.
  Progress(std::int64_t total, ProgressOptions options, Clock clock = {}, Sink sink = {});
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Reports `done` units finished, with key numbers shown as `name value` in the given order.
  void update(std::int64_t done,
              const std::vector<std::pair<std::string, std::string>>& fields = {});
  // Prints the final line (always, once).
  void finish();

  // The line for `done` units finished after `elapsed_seconds`; exposed for tests.
  std::string render(std::int64_t done, double elapsed_seconds,
                     const std::vector<std::pair<std::string, std::string>>& fields) const;

 private:
  std::int64_t total_;
  ProgressOptions options_;
  Clock clock_;
  Sink sink_;
  bool interactive_;
  double start_;
  double last_print_ = -1.0;
  std::int64_t done_ = 0;
  std::vector<std::pair<std::string, std::string>> fields_;
  bool finished_ = false;
};

}  // namespace infalign
