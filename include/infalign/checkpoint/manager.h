// Checkpoint directories under <run_dir>/checkpoints: step_00000500/ written as
// step_00000500.tmp/, files flushed, renamed, parent synced; `latest` (itself written atomically)
// names the newest complete one; retention by keep_last / keep_every.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace infalign::checkpoint {

class CheckpointManager {
 public:
  CheckpointManager(std::string run_dir, std::int64_t keep_last, std::int64_t keep_every);

  // Writes checkpoint `step`: `write(dir)` fills a temporary directory, which is then renamed to
  // step_<step> and recorded in `latest`; older checkpoints beyond the retention are removed.
  // Returns the final directory.
  std::string save(std::int64_t step, const std::function<void(const std::string& dir)>& write);

  // The directory `latest` names, if any. A leftover .tmp directory (a kill during a save) is
  // never returned. Throws CheckpointError when `latest` names a missing directory.
  std::optional<std::string> latest() const;

  const std::string& directory() const { return dir_; }

 private:
  void prune(std::int64_t newest_step);
  std::string dir_;
  std::int64_t keep_last_;
  std::int64_t keep_every_;
};

// "step_00000500"
std::string step_dir_name(std::int64_t step);

}  // namespace infalign::checkpoint
