#include "infalign/checkpoint/manager.h"

#include <algorithm>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "infalign/core/error.h"
#include "infalign/core/fs.h"

namespace infalign::checkpoint {

namespace stdfs = std::filesystem;

std::string step_dir_name(std::int64_t step) { return fmt::format("step_{:08d}", step); }

CheckpointManager::CheckpointManager(std::string run_dir, std::int64_t keep_last,
                                     std::int64_t keep_every)
    : dir_(std::move(run_dir) + "/checkpoints"), keep_last_(keep_last), keep_every_(keep_every) {}

std::string CheckpointManager::save(std::int64_t step,
                                    const std::function<void(const std::string&)>& write) {
  fs::create_directories(dir_);
  const std::string final_dir = dir_ + "/" + step_dir_name(step);
  const std::string tmp = final_dir + ".tmp";
  std::error_code ec;
  stdfs::remove_all(tmp, ec);
  fs::create_directories(tmp);
  write(tmp);
  fs::sync_directory(tmp);
  if (stdfs::exists(final_dir)) stdfs::remove_all(final_dir);
  stdfs::rename(tmp, final_dir);
  fs::sync_directory(dir_);
  fs::write_file_atomic(dir_ + "/latest", step_dir_name(step) + "\n");
  prune(step);
  return final_dir;
}

std::optional<std::string> CheckpointManager::latest() const {
  const std::string pointer = dir_ + "/latest";
  if (!stdfs::exists(pointer)) return std::nullopt;
  std::string name = fs::read_file(pointer);
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  const std::string path = dir_ + "/" + name;
  if (name.empty() || !stdfs::is_directory(path)) {
    throw CheckpointError(fmt::format("{}: names '{}', which is not a checkpoint directory in {}",
                                      pointer, name, dir_));
  }
  return path;
}

void CheckpointManager::prune(std::int64_t newest_step) {
  std::vector<std::int64_t> steps;
  for (const auto& entry : stdfs::directory_iterator(dir_)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory() || name.rfind("step_", 0) != 0 || name.size() != 13) continue;
    steps.push_back(std::stoll(name.substr(5)));
  }
  std::sort(steps.rbegin(), steps.rend());
  std::int64_t kept = 0;
  for (const std::int64_t step : steps) {
    const bool recent = kept < keep_last_;
    const bool milestone = keep_every_ > 0 && step % keep_every_ == 0;
    if (recent) ++kept;
    if (recent || milestone || step == newest_step) continue;
    std::error_code ec;
    stdfs::remove_all(dir_ + "/" + step_dir_name(step), ec);
  }
}

}  // namespace infalign::checkpoint
