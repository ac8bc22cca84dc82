// Building the calibration cache (CTRL step 1): K samples per prompt from the frozen base
// policy with the evaluation's decoding settings, scored by the reward, sorted and stored.
// Resumable: completed chunks of prompts persist under <cache>.partial/, and every sample is
// seeded by (run.seed, prompt, sample index), so a resumed build equals an uninterrupted one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "infalign/calibration/cache.h"
#include "infalign/config/load.h"
#include "infalign/tokenizer/tokenizer.h"

namespace infalign::runtime {
class Distributed;
}

namespace infalign::calibration {

// The prompts of data.train_prompts_file, encoded as every stage encodes them
// (tokenizer::encode_prompt), with their cache keys; a prompt repeated in the file counts once.
struct PromptSet {
  std::vector<std::string> texts;
  std::vector<std::vector<std::int64_t>> ids;  // <bos> prompt
  std::vector<std::uint64_t> keys;             // prompt_key(ids)
};
PromptSet load_prompt_set(const config::ExperimentConfig& cfg, const tokenizer::Tokenizer& tok);
// The same for any prompt file (evaluation reads data.eval_prompts_file); `field` is the JSONL
// member holding each prompt (data::read_prompts).
PromptSet load_prompt_set(const std::string& file, const std::string& field,
                          std::int64_t max_prompt_tokens, const tokenizer::Tokenizer& tok);

// <run.run_dir>/calibration.cache unless calibration.cache_path says otherwise.
std::string cache_path(const config::ExperimentConfig& cfg);

struct BuildStats {
  bool built = false;  // false: a matching cache was loaded
  std::int64_t prompts = 0, samples = 0;
  double seconds = 0, samples_per_second = 0;
};

// Held-out check of a cache: calibrated rewards of fresh base samples should be uniform
// (K u exactly uniform on {0..K} without ties).
struct UniformityReport {
  std::int64_t prompts = 0, samples = 0;
  std::vector<std::int64_t> histogram;  // 10 bins of u over [0, 1]
  double ks = 0;                        // sup |empirical CDF of K u - uniform on {0..K}|
  double ks_critical = 0;               // 5% critical value 1.358 / sqrt(samples)
  double tie_fraction = 0;              // fresh rewards equal to one of the prompt's K rewards
  double base_tie_fraction = 0;         // adjacent equal rewards within the cache
  double mean_u = 0;                    // 0.5 in expectation
};

// The header the config expects (hashes the model files and the prompt file).
CacheHeader expected_header(const config::LoadedConfig& loaded);

// Loads the cache the config describes; builds it when missing, and when stale if
// calibration.on_mismatch is rebuild (otherwise a DataError names every difference).
// With `dist` over W processes every rank calls it: rank r builds the chunks c with c % W == r
// (the same samples as one process: every sample is seeded by prompt and index), rank 0 joins
// them into the cache, and every rank returns it.
CalibrationCache ensure_cache(const config::LoadedConfig& loaded, BuildStats* stats = nullptr,
                              runtime::Distributed* dist = nullptr);

// Stage calibrate: ensure_cache, then the uniformity report (console and
// <run_dir>/calibration_report.json; rank 0).
void run_calibrate_stage(const config::LoadedConfig& loaded, runtime::Distributed* dist = nullptr);

}  // namespace infalign::calibration
