#include "infalign/core/metrics.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "infalign/core/error.h"
#include "infalign/core/fs.h"

namespace infalign {

namespace {

// Rewrites `path` without the records whose step exceeds `last_step`; a torn last line (a crash
// mid-write) is dropped as well.
void truncate_after(const std::string& path, std::int64_t last_step) {
  if (!std::filesystem::exists(path)) return;
  std::istringstream in(fs::read_file(path));
  std::string kept, line;
  std::size_t line_number = 0;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty()) continue;
    nlohmann::json record;
    try {
      record = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      if (in.peek() == EOF) break;  // torn final line
      throw DataError(
          fmt::format("{}:{}: not a JSON object; the metrics file is corrupt", path, line_number));
    }
    if (!record.is_object() || !record.contains("step") || !record["step"].is_number_integer()) {
      throw DataError(fmt::format("{}:{}: record without an integer \"step\"", path, line_number));
    }
    if (record["step"].get<std::int64_t>() <= last_step) kept += line + "\n";
  }
  fs::write_file_atomic(path, kept);
}

}  // namespace

MetricsWriter::MetricsWriter(std::string path, std::optional<std::int64_t> keep_through_step)
    : path_(std::move(path)) {
  if (keep_through_step) truncate_after(path_, *keep_through_step);
  file_ = std::fopen(path_.c_str(), "a");
  if (file_ == nullptr) {
    throw Error(fmt::format("cannot open metrics file {}: {}", path_, std::strerror(errno)));
  }
}

MetricsWriter::~MetricsWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void MetricsWriter::write(std::int64_t step, double wall_seconds, const MetricValues& values) {
  nlohmann::ordered_json record;
  record["step"] = step;
  record["wall_seconds"] = wall_seconds;
  for (const auto& [key, value] : values) {
    if (std::isfinite(value)) {
      record[key] = value;
    } else {
      record[key] = nullptr;
    }
  }
  const std::string line = record.dump() + "\n";
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fflush(file_) != 0) {
    throw Error(fmt::format("cannot write metrics file {}: {}", path_, std::strerror(errno)));
  }
}

}  // namespace infalign
