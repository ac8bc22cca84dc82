#include "infalign/calibration/builder.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <ATen/ATen.h>

#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/core/logging.h"
#include "infalign/core/progress.h"
#include "infalign/core/signals.h"
#include "infalign/core/timer.h"
#include "infalign/data/text_corpus.h"
#include "infalign/generation/generate.h"
#include "infalign/model/hf_io.h"
#include "infalign/reward/scorer.h"
#include "infalign/runtime/device.h"
#include "infalign/runtime/distributed.h"
#include "infalign/runtime/rng.h"
#include "infalign/tokenizer/load.h"
#include "infalign/tokenizer/sentencepiece_tokenizer.h"

namespace infalign::calibration {

namespace {

// Draws `per_prompt` base samples of each listed prompt, batched across prompts and samples,
// each row seeded by (seed, stream, prompt key, sample index), and scores them.
class BaseSampler {
 public:
  BaseSampler(const config::LoadedConfig& loaded, const tokenizer::Tokenizer& tok,
              reward::RewardScorer& scorer, c10::Device device)
      : cfg_(loaded.config),
        tok_(tok),
        scorer_(scorer),
        policy_(model::load_causal_lm(cfg_.model.init_from, {device, at::kFloat}),
                cfg_.generation.dtype),
        g_(generation::options_from_config(cfg_.generation, tok.eos_id(), tok.pad_id())) {
    policy_.get()->eval();
  }

  // rewards[i][k] for prompt indices[i], sample k (unsorted).
  std::vector<std::vector<double>> run(const PromptSet& prompts,
                                       const std::vector<std::size_t>& indices,
                                       std::int64_t per_prompt, const std::string& stream,
                                       Progress* progress, std::int64_t* done) {
    struct Row {
      std::size_t slot;
      std::uint64_t seed;
    };
    std::vector<Row> rows;
    for (std::size_t i = 0; i < indices.size(); ++i) {
      for (std::int64_t k = 0; k < per_prompt; ++k) {
        rows.push_back({i, runtime::RngSet::derive_seed(
                               cfg_.run.seed,
                               fmt::format("{}:{:016x}:{}", stream, prompts.keys[indices[i]], k))});
      }
    }
    std::vector<std::vector<double>> rewards(indices.size());
    const auto batch = static_cast<std::size_t>(cfg_.generation.batch_size);
    for (std::size_t start = 0; start < rows.size(); start += batch) {
      signals::throw_if_stop_requested();
      const std::size_t end = std::min(rows.size(), start + batch);
      std::vector<std::vector<std::int64_t>> chunk;
      g_.row_seeds.clear();
      for (std::size_t r = start; r < end; ++r) {
        chunk.push_back(prompts.ids[indices[rows[r].slot]]);
        g_.row_seeds.push_back(rows[r].seed);
      }
      const auto out = generation::generate(policy_.get(), chunk, g_, at::Generator());
      std::vector<const std::vector<std::int64_t>*> prompt_ptrs;
      for (std::size_t r = start; r < end; ++r)
        prompt_ptrs.push_back(&prompts.ids[indices[rows[r].slot]]);
      const std::vector<reward::ScoredText> items =
          reward::scored_texts(prompt_ptrs, out, tok_, scorer_.needs_text());
      const std::vector<double> scores = scorer_.score(items);
      for (std::size_t b = 0; b < chunk.size(); ++b) {
        rewards[rows[start + b].slot].push_back(scores[b]);
      }
      if (progress != nullptr) {
        *done += static_cast<std::int64_t>(chunk.size());
        progress->update(*done);
      }
    }
    return rewards;
  }

 private:
  const config::ExperimentConfig& cfg_;
  const tokenizer::Tokenizer& tok_;
  reward::RewardScorer& scorer_;
  generation::SamplingModel policy_;
  generation::GenerationOptions g_;
};

std::string chunk_file(const std::string& partial_dir, std::size_t chunk) {
  return fmt::format("{}/chunk-{:06d}.cal", partial_dir, chunk);
}

struct Context {
  const config::LoadedConfig& loaded;
  std::unique_ptr<tokenizer::Tokenizer> tok;
  PromptSet prompts;
  std::unique_ptr<reward::RewardScorer> scorer;
  CacheHeader expected;
  c10::Device device;
};

Context make_context(const config::LoadedConfig& loaded) {
  const auto& cfg = loaded.config;
  const c10::Device device = runtime::resolve_device(cfg.run.device);
  auto tok = tokenizer::load_configured_tokenizer(loaded);
  PromptSet prompts = load_prompt_set(cfg, *tok);
  auto scorer = reward::make_scorer(cfg, *tok, device);
  CacheHeader h;
  h.num_samples = cfg.calibration.num_samples;
  h.temperature = cfg.generation.temperature;
  h.top_k = cfg.generation.top_k;
  h.top_p = cfg.generation.top_p;
  h.max_new_tokens = cfg.generation.max_new_tokens;
  h.max_prompt_tokens = cfg.data.max_prompt_tokens;
  h.seed = cfg.run.seed;
  h.base_model_hash = reward::model_content_hash(cfg.model.init_from);
  h.reward_kind = scorer->kind();
  h.reward_hash = scorer->content_hash();
  // A JSONL file's prompts also depend on the member read: the hash covers it there (a text
  // file's hash stays its content's, as caches made before JSONL prompts recorded it).
  h.prompts_hash = fs::sha256_file(cfg.data.train_prompts_file);
  if (data::is_jsonl_path(cfg.data.train_prompts_file)) {
    h.prompts_hash = fs::sha256_hex(h.prompts_hash + '\0' + cfg.data.prompt_field);
  }
  h.num_prompts = static_cast<std::int64_t>(prompts.keys.size());
  return {loaded, std::move(tok), std::move(prompts), std::move(scorer), std::move(h), device};
}

CalibrationCache build(Context& ctx, const std::string& path, BuildStats* stats,
                       runtime::Distributed* dist) {
  const bool parallel = dist != nullptr && dist->active();
  const std::size_t world = parallel ? static_cast<std::size_t>(dist->world_size()) : 1;
  const std::size_t rank = parallel ? static_cast<std::size_t>(dist->rank()) : 0;
  const auto& cfg = ctx.loaded.config;
  const std::string partial = path + ".partial";
  fs::create_directories(partial);
  const std::size_t n = ctx.prompts.keys.size();
  const auto per_chunk = static_cast<std::size_t>(cfg.calibration.chunk_prompts);
  const std::size_t chunks = (n + per_chunk - 1) / per_chunk;
  const std::int64_t k = cfg.calibration.num_samples;

  // Chunks already persisted by an earlier, interrupted build with the same settings.
  std::vector<std::vector<CacheRecord>> done(chunks);
  std::vector<bool> have(chunks, false);
  std::size_t resumed = 0;
  for (std::size_t c = 0; c < chunks; ++c) {
    const std::string file = chunk_file(partial, c);
    if (!std::filesystem::exists(file)) continue;
    try {
      CalibrationCache part = CalibrationCache::load(file);
      const std::size_t first = c * per_chunk, last = std::min(n, first + per_chunk);
      bool ok = part.header() == ctx.expected && part.records().size() == last - first;
      for (std::size_t i = 0; ok && i < part.records().size(); ++i) {
        ok = part.records()[i].key == ctx.prompts.keys[first + i] &&
             static_cast<std::int64_t>(part.records()[i].rewards.size()) == k;
      }
      if (!ok) {
        log::warn("[calibrate] {} was built with other settings; rebuilding that chunk", file);
        continue;
      }
      done[c] = part.records();
      have[c] = true;
      ++resumed;
    } catch (const DataError& e) {
      log::warn("[calibrate] ignoring unreadable partial chunk: {}", e.what());
    }
  }
  std::int64_t to_sample = 0;
  for (std::size_t c = 0; c < chunks; ++c) {
    if (!have[c] && c % world == rank)
      to_sample += static_cast<std::int64_t>(std::min(n, (c + 1) * per_chunk) - c * per_chunk) * k;
  }
  if (resumed > 0) {
    log::info("[calibrate] resuming: {} of {} chunks already built in {}", resumed, chunks,
              partial);
  }
  log::info("[calibrate] {} prompts x K = {} base samples ({}), scored by the {} ({})", n, k,
            cfg.model.init_from, ctx.scorer->kind(),
            cfg.reward.kind == config::RewardKind::Gold      ? cfg.reward.lexicon_path
            : cfg.reward.kind == config::RewardKind::Command ? cfg.reward.command
                                                             : cfg.reward.model_path);
  BaseSampler sampler(ctx.loaded, *ctx.tok, *ctx.scorer, ctx.device);
  Progress progress(to_sample,
                    {"calibrate", "sample", cfg.logging.progress_interval_seconds, std::nullopt});
  Timer timer;
  std::int64_t sampled = 0;
  std::int64_t stop_after = -1;
  if (const char* v = std::getenv("INFALIGN_TEST_STOP_AFTER_STEP")) stop_after = std::atoll(v);
  std::int64_t rank0_delay_ms = 0;
  if (const char* v = std::getenv("INFALIGN_TEST_RANK0_DELAY_MS")) rank0_delay_ms = std::atoll(v);
  std::size_t built_now = 0;
  for (std::size_t c = 0; c < chunks; ++c) {
    if (have[c] || c % world != rank) continue;  // another rank's chunk
    const std::size_t first = c * per_chunk, last = std::min(n, first + per_chunk);
    std::vector<std::size_t> indices;
    for (std::size_t i = first; i < last; ++i) indices.push_back(i);
    auto rewards = sampler.run(ctx.prompts, indices, k, "calibration", &progress, &sampled);
    std::vector<CacheRecord> records;
    for (std::size_t i = 0; i < indices.size(); ++i) {
      std::sort(rewards[i].begin(), rewards[i].end());
      records.push_back({ctx.prompts.keys[indices[i]], std::move(rewards[i])});
    }
    CalibrationCache(ctx.expected, records).save(chunk_file(partial, c));
    done[c] = std::move(records);
    ++built_now;
    // Test hooks: stop as SIGTERM would after this many chunks of this invocation; make rank 0
    // slow (milliseconds after each chunk), so that the others wait for it in the barrier.
    if (static_cast<std::int64_t>(built_now) == stop_after) std::raise(SIGTERM);
    if (rank == 0 && rank0_delay_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(rank0_delay_ms));
    }
    signals::throw_if_stop_requested();
  }
  progress.finish();
  std::optional<CalibrationCache> cache;
  // Joins the chunks into the cache and writes it (rank 0 alone when there are several).
  auto join = [&] {
    if (parallel) {
      for (std::size_t c = 0; c < chunks; ++c) {
        if (!have[c] && c % world != rank)
          done[c] = CalibrationCache::load(chunk_file(partial, c)).records();
      }
    }
    std::vector<CacheRecord> all;
    for (auto& part : done) {
      for (auto& r : part) all.push_back(std::move(r));
    }
    cache.emplace(ctx.expected, std::move(all));
    const auto parent = std::filesystem::path(path).parent_path();
    if (!parent.empty()) fs::create_directories(parent.string());
    cache->save(path);
    std::filesystem::remove_all(partial);
  };
  // Every rank's chunks are on disk; rank 0 joins them and the others read the result.
  if (parallel) dist->barrier();
  runtime::main_only(dist, "joining the calibration chunks", join);
  if (parallel && !dist->is_main()) {
    if (stats != nullptr) *stats = {};
    return CalibrationCache::load(path);
  }
  const double seconds = timer.seconds();
  if (stats != nullptr) {
    stats->built = true;
    stats->prompts = static_cast<std::int64_t>(n);
    stats->samples = sampled;
    stats->seconds = seconds;
    stats->samples_per_second = seconds > 0 ? static_cast<double>(sampled) / seconds : 0.0;
  }
  log::info("[calibrate] wrote {} ({} prompts, K = {}; {} samples in {:.1f} s, {:.0f} samples/s)",
            path, n, k, sampled, seconds, seconds > 0 ? static_cast<double>(sampled) / seconds : 0);
  return std::move(*cache);
}

CalibrationCache ensure(Context& ctx, BuildStats* stats, runtime::Distributed* dist) {
  const auto& cfg = ctx.loaded.config;
  const std::string path = cache_path(cfg);
  const bool rebuild = cfg.calibration.on_mismatch == config::CacheMismatch::Rebuild;
  if (std::filesystem::exists(path)) {
    std::vector<std::string> problems;
    try {
      CalibrationCache cache = CalibrationCache::load(path);
      problems = cache.header().differences(ctx.expected);
      if (problems.empty()) {
        log::info("[calibrate] using {} ({} prompts, K = {})", path, cache.records().size(),
                  cache.header().num_samples);
        if (stats != nullptr) *stats = {};
        return cache;
      }
    } catch (const DataError& e) {
      if (!rebuild) throw;
      problems.push_back(e.what());
    }
    if (!rebuild) {
      std::string list;
      for (const auto& p : problems) list += "\n  " + p;
      throw DataError(
          fmt::format("{}: calibration cache built for other settings:{}\ndelete it, set "
                      "calibration.on_mismatch: rebuild, or point calibration.cache_path elsewhere",
                      path, list));
    }
    for (const auto& p : problems) log::warn("[calibrate] {} is stale: {}", path, p);
    log::warn("[calibrate] rebuilding {} (calibration.on_mismatch: rebuild)", path);
  }
  return build(ctx, path, stats, dist);
}

}  // namespace

PromptSet load_prompt_set(const config::ExperimentConfig& cfg, const tokenizer::Tokenizer& tok) {
  return load_prompt_set(cfg.data.train_prompts_file, cfg.data.prompt_field,
                         cfg.data.max_prompt_tokens, tok);
}

PromptSet load_prompt_set(const std::string& file, const std::string& field,
                          std::int64_t max_prompt_tokens, const tokenizer::Tokenizer& tok) {
  PromptSet set;
  std::unordered_map<std::uint64_t, std::size_t> seen;
  for (auto& text : data::read_prompts(file, field)) {
    auto ids = tokenizer::encode_prompt(tok, text, max_prompt_tokens);
    const std::uint64_t key = prompt_key(ids);
    if (!seen.emplace(key, set.keys.size()).second) continue;
    set.texts.push_back(std::move(text));
    set.ids.push_back(std::move(ids));
    set.keys.push_back(key);
  }
  if (set.keys.empty()) {
    throw DataError(fmt::format("{}: no prompts", file));
  }
  return set;
}

std::string cache_path(const config::ExperimentConfig& cfg) {
  return cfg.calibration.cache_path.empty() ? cfg.run.run_dir + "/calibration.cache"
                                            : cfg.calibration.cache_path;
}

CacheHeader expected_header(const config::LoadedConfig& loaded) {
  return make_context(loaded).expected;
}

CalibrationCache ensure_cache(const config::LoadedConfig& loaded, BuildStats* stats,
                              runtime::Distributed* dist) {
  Context ctx = make_context(loaded);
  return ensure(ctx, stats, dist);
}

void run_calibrate_stage(const config::LoadedConfig& loaded, runtime::Distributed* dist) {
  const auto& cfg = loaded.config;
  Context ctx = make_context(loaded);
  BuildStats stats;
  const CalibrationCache cache = ensure(ctx, &stats, dist);
  if (dist != nullptr && !dist->is_main()) return;  // rank 0 reports
  nlohmann::ordered_json report;
  report["stage"] = "calibrate";
  report["cache"] = cache_path(cfg);
  report["prompts"] = cache.records().size();
  report["num_samples"] = cache.header().num_samples;
  report["built"] = stats.built;
  if (stats.built) {
    report["build_samples"] = stats.samples;
    report["build_seconds"] = stats.seconds;
    report["samples_per_second"] = stats.samples_per_second;
  }
  const std::int64_t k = cache.header().num_samples;
  if (cfg.calibration.report_prompts > 0) {
    // Fresh base samples of evenly spaced prompts, from their own seed stream.
    const std::size_t n = ctx.prompts.keys.size();
    const std::size_t r = std::min<std::size_t>(n, cfg.calibration.report_prompts);
    std::vector<std::size_t> indices;
    for (std::size_t i = 0; i < r; ++i) indices.push_back(i * n / r);
    BaseSampler sampler(loaded, *ctx.tok, *ctx.scorer, ctx.device);
    const auto fresh = sampler.run(ctx.prompts, indices, cfg.calibration.report_samples,
                                   "calibration_report", nullptr, nullptr);
    UniformityReport u;
    u.prompts = static_cast<std::int64_t>(r);
    u.histogram.assign(10, 0);
    std::vector<double> counts;
    double ties = 0, sum_u = 0;
    for (std::size_t i = 0; i < r; ++i) {
      const std::vector<double>* sorted = cache.find(ctx.prompts.keys[indices[i]]);
      INFALIGN_CHECK(sorted != nullptr, "prompt missing from a cache just built");
      for (const double reward : fresh[i]) {
        const double value = calibrated_reward(*sorted, reward, false);
        counts.push_back(value * static_cast<double>(k));
        ties += std::binary_search(sorted->begin(), sorted->end(), reward) ? 1 : 0;
        sum_u += value;
        u.histogram[static_cast<std::size_t>(std::min(9.0, std::floor(value * 10)))] += 1;
      }
    }
    u.samples = static_cast<std::int64_t>(counts.size());
    u.ks = ks_uniform_lattice(counts, k);
    u.ks_critical = 1.358 / std::sqrt(static_cast<double>(u.samples));
    u.tie_fraction = ties / static_cast<double>(u.samples);
    u.mean_u = sum_u / static_cast<double>(u.samples);
    u.base_tie_fraction = reward_heterogeneity(cache.records()).tie_fraction;
    std::string bars;
    const auto peak = *std::max_element(u.histogram.begin(), u.histogram.end());
    for (std::size_t b = 0; b < 10; ++b) {
      const auto width = peak > 0 ? static_cast<int>(40.0 * static_cast<double>(u.histogram[b]) /
                                                     static_cast<double>(peak))
                                  : 0;
      bars += fmt::format("\n  u in [{:.1f}, {:.1f}{} {:>6} {}", 0.1 * static_cast<double>(b),
                          0.1 * static_cast<double>(b + 1), b == 9 ? "]" : ")", u.histogram[b],
                          std::string(static_cast<std::size_t>(width), '#'));
    }
    log::info(
        "[calibrate] held-out check: calibrated rewards of {} fresh base samples ({} prompts x "
        "{}); uniform if the cache is right:{}",
        u.samples, u.prompts, cfg.calibration.report_samples, bars);
    log::info(
        "[calibrate] mean u {:.3f} (expected 0.5), KS distance {:.4f} vs uniform on {{0..K}} "
        "(5% critical value {:.4f}; samples of one prompt share its K rewards, so it is "
        "indicative), {}",
        u.mean_u, u.ks, u.ks_critical,
        u.ks <= u.ks_critical ? "consistent with uniform" : "NOT uniform");
    log::info(
        "[calibrate] ties: {:.1f}% of fresh rewards equal a base reward, {:.1f}% of "
        "adjacent base rewards are equal{}",
        100 * u.tie_fraction, 100 * u.base_tie_fraction,
        u.tie_fraction > 0.2 ? " (many ties: a saturated or coarse reward)" : "");
    report["uniformity"] = {{"prompts", u.prompts},
                            {"samples", u.samples},
                            {"histogram", u.histogram},
                            {"mean_u", u.mean_u},
                            {"ks", u.ks},
                            {"ks_critical_5pct", u.ks_critical},
                            {"tie_fraction", u.tie_fraction},
                            {"base_tie_fraction", u.base_tie_fraction}};
  }
  const Heterogeneity h = reward_heterogeneity(cache.records());
  log::info(
      "[calibrate] heterogeneity of the base rewards across prompts: between-prompt share of the "
      "variance {:.1f}%; per-prompt SD mean {:.3g}, CV {:.2f} (p10 {:.3g}, p90 {:.3g}); ties "
      "{:.1f}% (what calibration corrects: prompt offsets and spreads)",
      100 * h.between_share, h.sd_mean, h.sd_cv, h.sd_p10, h.sd_p90, 100 * h.tie_fraction);
  report["heterogeneity"] = {{"between_prompt_share", h.between_share},
                             {"sd_mean", h.sd_mean},
                             {"sd_cv", h.sd_cv},
                             {"sd_p10", h.sd_p10},
                             {"sd_p90", h.sd_p90},
                             {"tie_fraction", h.tie_fraction}};
  fs::create_directories(cfg.run.run_dir);
  fs::write_file_atomic(cfg.run.run_dir + "/calibration_report.json", report.dump(2) + "\n");
}

}  // namespace infalign::calibration
