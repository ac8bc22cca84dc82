// The calibration cache (CTRL step 1): for every prompt, the sorted rewards of K base-policy
// samples, and the calibrated reward u of a new response by binary search (docs/method.md section
// 2).
//
// File format, version 1 (little-endian):
//   8 bytes   magic "INFCAL01"
//   u64       header length H, then H bytes of JSON: the CacheHeader fields
//   u64       record count R, then R records: u64 prompt key, u32 K, K x f64 sorted rewards
//   64 bytes  sha256 (hex) of everything before it
// Torch-free: the reader is also built with AddressSanitizer and fed corrupted files.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace infalign::calibration {

// What a cache was built from; a loaded cache must match the config's expectation field by
// field. Hashes are sha256 hex digests of the model files (or the gold lexicon).
struct CacheHeader {
  std::int64_t num_samples = 0;  // K
  double temperature = 1.0;
  std::int64_t top_k = 0;
  double top_p = 1.0;
  std::int64_t max_new_tokens = 0;
  std::int64_t max_prompt_tokens = 0;
  std::uint64_t seed = 0;
  std::string base_model_hash;
  std::string reward_kind;  // "model" or "gold"
  std::string reward_hash;
  std::string
      prompts_hash;  // sha256 of the prompt file's contents (and data.prompt_field for JSONL)
  std::int64_t num_prompts = 0;

  // "name: cache has X, the config expects Y" for every field that differs.
  std::vector<std::string> differences(const CacheHeader& expected) const;
  bool operator==(const CacheHeader& o) const { return differences(o).empty(); }
};

struct CacheRecord {
  std::uint64_t key = 0;        // prompt_key of the prompt's token ids
  std::vector<double> rewards;  // ascending, size K
};

// 64-bit FNV-1a over the prompt's token ids (as little-endian int64): the record key.
std::uint64_t prompt_key(const std::vector<std::int64_t>& token_ids);

// u = (#{r_k < r} + 0.5 #{r_k == r}) / K, or with plus_one (#{r_k < r} + 0.5 #{r_k == r} + 0.5)
// / (K + 1), by two binary searches on the ascending `sorted`.
double calibrated_reward(const std::vector<double>& sorted, double r, bool plus_one);

// Kolmogorov-Smirnov distance between counts c_i = K u_i (half-integers with ties) and the
// uniform law on {0, ..., K}, the exact law of K u for a fresh base sample without ties.
double ks_uniform_lattice(const std::vector<double>& counts, std::int64_t k);

// How much the base rewards differ between prompts: what calibration has to correct on a task
// (docs/frontier.md). From the K rewards of each prompt (at least 2 prompts of K >= 2).
struct Heterogeneity {
  // Var(prompt means) / (Var(prompt means) + mean within-prompt variance), unbiased within.
  double between_share = 0;
  // Per-prompt standard deviations: mean, coefficient of variation, 10th and 90th percentiles.
  double sd_mean = 0, sd_cv = 0, sd_p10 = 0, sd_p90 = 0;
  double tie_fraction = 0;  // adjacent equal rewards within a prompt's sorted list
};
Heterogeneity reward_heterogeneity(const std::vector<CacheRecord>& records);

class CalibrationCache {
 public:
  CalibrationCache() = default;
  CalibrationCache(CacheHeader header, std::vector<CacheRecord> records);

  const CacheHeader& header() const { return header_; }
  const std::vector<CacheRecord>& records() const { return records_; }
  // The sorted rewards of a prompt, or nullptr when the cache does not hold it.
  const std::vector<double>* find(std::uint64_t key) const;

  std::string serialize() const;
  // Throws DataError "<path>: ..." (what is wrong and where) on a missing, truncated, corrupted
  // or unsupported file; never reads out of bounds.
  static CalibrationCache parse(const std::string& bytes, const std::string& path);
  static CalibrationCache load(const std::string& path);
  void save(const std::string& path) const;  // atomic

 private:
  CacheHeader header_;
  std::vector<CacheRecord> records_;
  std::unordered_map<std::uint64_t, std::size_t> index_;
};

}  // namespace infalign::calibration
