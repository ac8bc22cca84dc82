// The `calibration` section: K base-policy samples per prompt, and the on-disk cache of their
// sorted rewards (CTRL step 1).
#pragma once

#include <cstdint>
#include <string>

namespace infalign::config {

// What to do when the cache was built with other models or settings.
enum class CacheMismatch { Error, Rebuild };

struct CalibrationConfig {
  // Base samples per prompt (K); K >= 64 keeps the best-of-4 loss under a point (docs/method.md
  // section 4).
  std::int64_t num_samples = 64;
  // Cache file; "" = <run.run_dir>/calibration.cache.
  std::string cache_path = "";
  // On a stale cache: error (say which hash or setting differs) or rebuild.
  CacheMismatch on_mismatch = CacheMismatch::Error;
  // Use (count + 0.5) / (K + 1), which is never exactly 0 or 1, instead of count / K.
  bool plus_one = false;
  // Prompts per persisted chunk of a resumable build.
  std::int64_t chunk_prompts = 32;
  // Uniformity report after a build: prompts checked with fresh base samples (0 = no report).
  std::int64_t report_prompts = 256;
  // Fresh base samples per checked prompt.
  std::int64_t report_samples = 4;
};

}  // namespace infalign::config
