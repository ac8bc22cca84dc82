#include "infalign/calibration/cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "infalign/core/error.h"
#include "infalign/core/fs.h"

namespace infalign::calibration {

namespace {

constexpr char kMagic[8] = {'I', 'N', 'F', 'C', 'A', 'L', '0', '1'};
constexpr std::size_t kChecksumSize = 64;
constexpr std::uint64_t kMaxK = 1u << 24;

template <typename T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

// Bounds-checked reader over the file's bytes.
class Reader {
 public:
  Reader(const std::string& bytes, std::size_t end, const std::string& path)
      : bytes_(bytes), end_(end), path_(path) {}
  template <typename T>
  T get(const char* what) {
    need(sizeof(T), what);
    T value;
    std::memcpy(&value, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return value;
  }
  std::string take(std::size_t n, const char* what) {
    need(n, what);
    std::string s = bytes_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::size_t pos() const { return pos_; }
  std::size_t left() const { return end_ - pos_; }
  [[noreturn]] void fail(const std::string& message) const {
    throw DataError(fmt::format("{}: {} (at byte {})", path_, message, pos_));
  }

 private:
  void need(std::size_t n, const char* what) const {
    if (n > end_ - pos_) {
      fail(fmt::format("truncated: {} needs {} bytes, {} left", what, n, end_ - pos_));
    }
  }
  const std::string& bytes_;
  std::size_t end_, pos_ = 0;
  const std::string& path_;
};

nlohmann::ordered_json header_json(const CacheHeader& h) {
  nlohmann::ordered_json j;
  j["version"] = 1;
  j["num_samples"] = h.num_samples;
  j["temperature"] = h.temperature;
  j["top_k"] = h.top_k;
  j["top_p"] = h.top_p;
  j["max_new_tokens"] = h.max_new_tokens;
  j["max_prompt_tokens"] = h.max_prompt_tokens;
  j["seed"] = h.seed;
  j["base_model_hash"] = h.base_model_hash;
  j["reward_kind"] = h.reward_kind;
  j["reward_hash"] = h.reward_hash;
  j["prompts_hash"] = h.prompts_hash;
  j["num_prompts"] = h.num_prompts;
  return j;
}

}  // namespace

std::vector<std::string> CacheHeader::differences(const CacheHeader& e) const {
  std::vector<std::string> out;
  auto check = [&](const char* name, const auto& have, const auto& want, const char* hint) {
    if (have != want) {
      out.push_back(
          fmt::format("{}: the cache has {}, the config expects {}{}", name, have, want, hint));
    }
  };
  check("K (calibration.num_samples)", num_samples, e.num_samples, "");
  check("generation.temperature", temperature, e.temperature, "");
  check("generation.top_k", top_k, e.top_k, "");
  check("generation.top_p", top_p, e.top_p, "");
  check("generation.max_new_tokens", max_new_tokens, e.max_new_tokens, "");
  check("data.max_prompt_tokens", max_prompt_tokens, e.max_prompt_tokens, "");
  check("run.seed", seed, e.seed, "");
  check("base model sha256", base_model_hash, e.base_model_hash,
        " (model.init_from changed or was retrained)");
  check("reward.kind", reward_kind, e.reward_kind, "");
  check("reward sha256", reward_hash, e.reward_hash,
        " (the reward model or lexicon changed or was retrained, or reward.dtype / "
        "run.frozen_dtype changed the dtype the reward model scores in)");
  check("prompt file sha256", prompts_hash, e.prompts_hash, " (data.train_prompts_file changed)");
  check("prompt count", num_prompts, e.num_prompts, "");
  return out;
}

std::uint64_t prompt_key(const std::vector<std::int64_t>& token_ids) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (const std::int64_t id : token_ids) {
    auto v = static_cast<std::uint64_t>(id);
    for (int b = 0; b < 8; ++b) {
      h ^= (v >> (8 * b)) & 0xffu;
      h *= 0x100000001b3ull;
    }
  }
  return h;
}

double calibrated_reward(const std::vector<double>& sorted, double r, bool plus_one) {
  INFALIGN_CHECK(!sorted.empty(), "calibrated_reward needs at least one base reward");
  const auto lo = std::lower_bound(sorted.begin(), sorted.end(), r) - sorted.begin();
  const auto hi = std::upper_bound(sorted.begin(), sorted.end(), r) - sorted.begin();
  const double count = static_cast<double>(lo) + 0.5 * static_cast<double>(hi - lo);
  const auto k = static_cast<double>(sorted.size());
  return plus_one ? (count + 0.5) / (k + 1.0) : count / k;
}

Heterogeneity reward_heterogeneity(const std::vector<CacheRecord>& records) {
  std::vector<double> means, sds;
  double within = 0, ties = 0, pairs = 0;
  for (const CacheRecord& r : records) {
    const auto k = static_cast<double>(r.rewards.size());
    if (r.rewards.size() < 2) continue;
    double mean = 0;
    for (const double v : r.rewards) mean += v / k;
    double ss = 0;
    for (std::size_t i = 0; i < r.rewards.size(); ++i) {
      ss += (r.rewards[i] - mean) * (r.rewards[i] - mean);
      if (i > 0) ties += r.rewards[i] == r.rewards[i - 1] ? 1 : 0;
    }
    pairs += k - 1;
    means.push_back(mean);
    sds.push_back(std::sqrt(ss / (k - 1)));
    within += ss / (k - 1);
  }
  Heterogeneity h;
  if (means.size() < 2) return h;
  const auto n = static_cast<double>(means.size());
  double grand = 0, sd_mean = 0;
  for (std::size_t i = 0; i < means.size(); ++i) {
    grand += means[i] / n;
    sd_mean += sds[i] / n;
  }
  double between = 0, sd_var = 0;
  for (std::size_t i = 0; i < means.size(); ++i) {
    between += (means[i] - grand) * (means[i] - grand) / (n - 1);
    sd_var += (sds[i] - sd_mean) * (sds[i] - sd_mean) / (n - 1);
  }
  within /= n;
  h.between_share = between + within > 0 ? between / (between + within) : 0.0;
  h.sd_mean = sd_mean;
  h.sd_cv = sd_mean > 0 ? std::sqrt(sd_var) / sd_mean : 0.0;
  std::sort(sds.begin(), sds.end());
  auto quantile = [&](double q) {
    const double pos = q * (n - 1);
    const auto lo = static_cast<std::size_t>(std::floor(pos));
    const std::size_t hi = std::min(lo + 1, sds.size() - 1);
    return sds[lo] + (pos - static_cast<double>(lo)) * (sds[hi] - sds[lo]);
  };
  h.sd_p10 = quantile(0.1);
  h.sd_p90 = quantile(0.9);
  h.tie_fraction = pairs > 0 ? ties / pairs : 0.0;
  return h;
}

double ks_uniform_lattice(const std::vector<double>& counts, std::int64_t k) {
  INFALIGN_CHECK(!counts.empty() && k >= 1, "ks_uniform_lattice needs samples and K >= 1");
  // Both CDFs are step functions with jumps on the half-integer grid 0, 0.5, ..., K.
  std::vector<std::int64_t> at(static_cast<std::size_t>(2 * k + 1), 0);
  for (const double c : counts) {
    const auto j = static_cast<std::int64_t>(std::llround(2 * c));
    at[static_cast<std::size_t>(std::clamp<std::int64_t>(j, 0, 2 * k))] += 1;
  }
  const auto n = static_cast<double>(counts.size());
  double cum = 0, d = 0;
  for (std::int64_t j = 0; j <= 2 * k; ++j) {
    cum += static_cast<double>(at[static_cast<std::size_t>(j)]);
    const double uniform = static_cast<double>(j / 2 + 1) / static_cast<double>(k + 1);
    d = std::max(d, std::abs(cum / n - uniform));
  }
  return d;
}

CalibrationCache::CalibrationCache(CacheHeader header, std::vector<CacheRecord> records)
    : header_(std::move(header)), records_(std::move(records)) {
  for (std::size_t i = 0; i < records_.size(); ++i) index_.emplace(records_[i].key, i);
}

const std::vector<double>* CalibrationCache::find(std::uint64_t key) const {
  const auto it = index_.find(key);
  return it == index_.end() ? nullptr : &records_[it->second].rewards;
}

std::string CalibrationCache::serialize() const {
  std::string out(kMagic, sizeof(kMagic));
  const std::string header = header_json(header_).dump();
  put<std::uint64_t>(out, header.size());
  out += header;
  put<std::uint64_t>(out, records_.size());
  for (const auto& r : records_) {
    put<std::uint64_t>(out, r.key);
    put<std::uint32_t>(out, static_cast<std::uint32_t>(r.rewards.size()));
    for (const double v : r.rewards) put<double>(out, v);
  }
  out += fs::sha256_hex(out);
  return out;
}

CalibrationCache CalibrationCache::parse(const std::string& bytes, const std::string& path) {
  if (bytes.size() < sizeof(kMagic) || std::memcmp(bytes.data(), kMagic, sizeof(kMagic)) != 0) {
    throw DataError(
        fmt::format("{}: not an infalign calibration cache (bad magic; expected "
                    "INFCAL01)",
                    path));
  }
  if (bytes.size() < sizeof(kMagic) + kChecksumSize) {
    throw DataError(fmt::format("{}: truncated ({} bytes)", path, bytes.size()));
  }
  const std::size_t body = bytes.size() - kChecksumSize;
  if (fs::sha256_hex(std::string_view(bytes.data(), body)) != bytes.substr(body)) {
    throw DataError(
        fmt::format("{}: checksum mismatch: the file is truncated or corrupted; "
                    "delete it to rebuild",
                    path));
  }
  Reader in(bytes, body, path);
  in.take(sizeof(kMagic), "magic");
  const auto header_size = in.get<std::uint64_t>("header length");
  if (header_size > in.left()) in.fail(fmt::format("header length {} too large", header_size));
  const std::string header_text = in.take(static_cast<std::size_t>(header_size), "header");
  CacheHeader h;
  try {
    const auto j = nlohmann::json::parse(header_text);
    const int version = j.at("version").get<int>();
    if (version != 1) {
      in.fail(
          fmt::format("format version {} is not supported (this build reads version 1)", version));
    }
    h.num_samples = j.at("num_samples").get<std::int64_t>();
    h.temperature = j.at("temperature").get<double>();
    h.top_k = j.at("top_k").get<std::int64_t>();
    h.top_p = j.at("top_p").get<double>();
    h.max_new_tokens = j.at("max_new_tokens").get<std::int64_t>();
    h.max_prompt_tokens = j.at("max_prompt_tokens").get<std::int64_t>();
    h.seed = j.at("seed").get<std::uint64_t>();
    h.base_model_hash = j.at("base_model_hash").get<std::string>();
    h.reward_kind = j.at("reward_kind").get<std::string>();
    h.reward_hash = j.at("reward_hash").get<std::string>();
    h.prompts_hash = j.at("prompts_hash").get<std::string>();
    h.num_prompts = j.at("num_prompts").get<std::int64_t>();
  } catch (const nlohmann::json::exception& e) {
    in.fail(fmt::format("bad header: {}", e.what()));
  }
  const auto count = in.get<std::uint64_t>("record count");
  if (count > in.left() / 12) in.fail(fmt::format("record count {} too large", count));
  std::vector<CacheRecord> records;
  records.reserve(static_cast<std::size_t>(count));
  for (std::uint64_t i = 0; i < count; ++i) {
    CacheRecord r;
    r.key = in.get<std::uint64_t>("record key");
    const auto k = in.get<std::uint32_t>("record size");
    if (k == 0 || k > kMaxK || k > in.left() / 8) {
      in.fail(fmt::format("record {} has {} rewards; expected 1 to {}", i, k,
                          std::min<std::uint64_t>(kMaxK, in.left() / 8)));
    }
    r.rewards.resize(k);
    for (auto& v : r.rewards) v = in.get<double>("reward");
    for (std::size_t q = 0; q < r.rewards.size(); ++q) {
      if (!std::isfinite(r.rewards[q]) || (q > 0 && r.rewards[q] < r.rewards[q - 1])) {
        in.fail(fmt::format("record {}: rewards are not finite and ascending", i));
      }
    }
    records.push_back(std::move(r));
  }
  if (in.left() != 0) in.fail(fmt::format("{} unexpected bytes after the records", in.left()));
  CalibrationCache cache(std::move(h), std::move(records));
  if (cache.index_.size() != cache.records_.size()) {
    throw DataError(fmt::format("{}: two records share a prompt key", path));
  }
  return cache;
}

CalibrationCache CalibrationCache::load(const std::string& path) {
  std::string bytes;
  try {
    bytes = fs::read_file(path);
  } catch (const Error& e) {
    throw DataError(e.what());
  }
  return parse(bytes, path);
}

void CalibrationCache::save(const std::string& path) const {
  fs::write_file_atomic(path, serialize());
}

}  // namespace infalign::calibration
