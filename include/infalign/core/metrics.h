// Metrics sink: one JSON object per line in <run_dir>/metrics.jsonl, always with `step` and
// `wall_seconds`; keys are `group/name`. Plotting scripts read only this file.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace infalign {

using MetricValues = std::vector<std::pair<std::string, double>>;

class MetricsWriter {
 public:
  // Opens `path` for appending. With `keep_through_step`, records whose step is larger are
  // removed first (a resumed run continues the file exactly where its checkpoint was taken).
  explicit MetricsWriter(std::string path, std::optional<std::int64_t> keep_through_step = {});
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;

  // Appends one record and flushes it. Non-finite values are written as null.
  void write(std::int64_t step, double wall_seconds, const MetricValues& values);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace infalign
