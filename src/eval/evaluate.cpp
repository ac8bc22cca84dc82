#include "infalign/eval/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <ATen/ATen.h>

#include "infalign/calibration/calibrate.h"
#include "infalign/checkpoint/manager.h"
#include "infalign/checkpoint/safetensors.h"
#include "infalign/config/names.h"
#include "infalign/core/build_info.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/core/logging.h"
#include "infalign/core/progress.h"
#include "infalign/core/signals.h"
#include "infalign/core/timer.h"
#include "infalign/eval/frontier.h"
#include "infalign/model/hf_io.h"
#include "infalign/runtime/device.h"
#include "infalign/runtime/distributed.h"
#include "infalign/runtime/rng.h"
#include "infalign/theory/calibrated.h"
#include "infalign/tokenizer/load.h"
#include "infalign/tokenizer/sentencepiece_tokenizer.h"

namespace infalign::eval {

namespace stdfs = std::filesystem;

// Below this KL a policy is the base for the KL efficiency and the oracle gain fraction.
constexpr double kMinKl = 0.005;

ModelSamples sample_and_score(model::CausalLm& model, model::CausalLm* base,
                              const tokenizer::Tokenizer* tok,
                              const calibration::PromptSet& prompts, std::int64_t per_prompt,
                              SamplingPlan plan, const std::vector<reward::RewardScorer*>& judges,
                              Progress* progress, std::int64_t* done) {
  const std::size_t rows = prompts.ids.size() * static_cast<std::size_t>(per_prompt);
  ModelSamples out;
  out.scores.assign(judges.size(), {});
  const auto batch = static_cast<std::size_t>(std::max<std::int64_t>(1, plan.batch_size));
  const double temperature = plan.options.sampling.temperature;
  model->eval();
  if (base != nullptr) (*base)->eval();
  generation::SamplingModel sampler(model, plan.sampler_dtype);
  for (std::size_t start = 0; start < rows; start += batch) {
    if (plan.test_delay_ms > 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(plan.test_delay_ms));
    }
    signals::throw_if_stop_requested();
    const std::size_t end = std::min(rows, start + batch);
    std::vector<std::vector<std::int64_t>> chunk;
    std::vector<const std::vector<std::int64_t>*> prompt_ptrs;
    plan.options.row_seeds.clear();
    for (std::size_t r = start; r < end; ++r) {
      const std::size_t p = r / static_cast<std::size_t>(per_prompt);
      const std::size_t k = r % static_cast<std::size_t>(per_prompt);
      chunk.push_back(prompts.ids[p]);
      prompt_ptrs.push_back(&prompts.ids[p]);
      plan.options.row_seeds.push_back(runtime::RngSet::derive_seed(
          plan.seed, fmt::format("eval:{}:{:016x}:{}", plan.stream, prompts.keys[p], k)));
    }
    const generation::GenerationResult gen =
        generation::generate(sampler.get(), chunk, plan.options, at::Generator());
    if (!judges.empty() || plan.keep_texts) {
      INFALIGN_CHECK(tok != nullptr, "sample_and_score: judges and texts need the tokenizer");
      // One decoded item per row for every judge (the text only when someone reads it).
      bool need_text = plan.keep_texts;
      for (const auto* judge : judges) need_text = need_text || judge->needs_text();
      std::vector<reward::ScoredText> items =
          reward::scored_texts(prompt_ptrs, gen, *tok, need_text);
      for (std::size_t j = 0; j < judges.size(); ++j) {
        const std::vector<double> s = judges[j]->score(items);
        out.scores[j].insert(out.scores[j].end(), s.begin(), s.end());
      }
      if (plan.keep_texts) {
        for (auto& item : items) out.texts.push_back(std::move(item.response_text));
      }
    }
    const at::Tensor lengths = gen.response_lengths.cpu();
    const at::Tensor eos = gen.ended_with_eos.cpu();
    for (std::int64_t b = 0; b < lengths.size(0); ++b) {
      out.lengths.push_back(lengths[b].item<std::int64_t>());
      out.eos.push_back(eos[b].item<bool>() ? 1 : 0);
    }
    if (base != nullptr) {
      at::NoGradGuard no_grad;
      const at::Tensor ids = at::cat({gen.prompt_ids, gen.response_ids}, 1);
      const at::Tensor mask = at::cat({gen.prompt_mask, gen.response_mask}, 1);
      const at::Tensor pos = model::position_ids_from_mask(mask);
      const auto P = gen.prompt_ids.size(1), R = gen.response_ids.size(1);
      auto logp = [&](model::CausalLm& lm) {
        return generation::token_logprobs(
            generation::response_logits(lm, ids, mask, pos, P, R, plan.dtype), gen.response_ids,
            temperature);
      };
      const at::Tensor m = gen.response_mask.to(at::kDouble);
      const at::Tensor lp = logp(model).to(at::kDouble), lb = logp(*base).to(at::kDouble);
      const at::Tensor k1 = generation::kl_k1(lp, lb, m).sum(1).cpu();
      const at::Tensor k3 = generation::kl_k3(lp, lb, m).sum(1).cpu();
      for (std::int64_t b = 0; b < k1.size(0); ++b) {
        out.k1.push_back(k1[b].item<double>());
        out.k3.push_back(k3[b].item<double>());
      }
    }
    if (progress != nullptr && done != nullptr) {
      *done += static_cast<std::int64_t>(end - start);
      progress->update(*done);
    }
  }
  return out;
}

PolicySource resolve_policy(const std::string& path, const std::string& base_model) {
  stdfs::path dir = stdfs::path(path).lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();
  auto has = [](const stdfs::path& d, const char* file) { return stdfs::exists(d / file); };
  // A run directory: its final export, else its latest checkpoint.
  if (!has(dir, "config.json") && !has(dir, "policy.safetensors")) {
    if (has(dir / "final", "config.json")) {
      dir = dir / "final";
    } else if (stdfs::exists(dir / "checkpoints")) {
      const checkpoint::CheckpointManager manager(dir.string(), 1, 0);
      if (const auto latest = manager.latest()) dir = stdfs::path(*latest);
    }
  }
  PolicySource s;
  auto resolved_in = [&](const stdfs::path& d) {
    return has(d, "config.resolved.yaml") ? (d / "config.resolved.yaml").string() : std::string();
  };
  const std::string weights = checkpoint::model_weights_path(dir.string());
  if (has(dir, "config.json") && stdfs::exists(weights)) {
    s.config_dir = dir.string();
    s.weights_file = weights;
    const bool final_export = dir.filename() == "final";
    s.name = final_export ? dir.parent_path().filename().string() : dir.filename().string();
    s.resolved_config = final_export ? resolved_in(dir.parent_path()) : "";
  } else if (has(dir, "policy.safetensors")) {
    // A training checkpoint: <run>/checkpoints/step_<n>.
    s.config_dir = base_model;
    s.weights_file = (dir / "policy.safetensors").string();
    const std::string step = dir.filename().string();
    const auto digits = step.find_first_not_of("step_0");
    s.name = fmt::format("{}@{}", dir.parent_path().parent_path().filename().string(),
                         digits == std::string::npos ? "0" : step.substr(digits));
    s.resolved_config = resolved_in(dir);
  } else {
    throw DataError(fmt::format(
        "{}: not a policy: expected an HF model directory (config.json + model.safetensors or "
        "a sharded model.safetensors.index.json), a "
        "training checkpoint (policy.safetensors), or a run directory holding final/ or "
        "checkpoints/",
        path));
  }
  return s;
}

namespace {

// What a policy was trained with, from its run's resolved config: a label for reports, the
// oracle transform (raw included) and the theory transform (calibrated kinds).
struct TrainingTransform {
  std::string label;  // "" when unknown (no resolved config, not a ppo run)
  std::optional<OracleTransform> oracle;
  std::optional<theory::Transform> phi;
};

TrainingTransform training_transform(const PolicySource& source) {
  TrainingTransform out;
  if (source.resolved_config.empty()) return out;
  try {
    std::vector<std::string> skipped;
    const config::ExperimentConfig cfg =
        config::load_recorded_config(source.resolved_config, &skipped).config;
    if (!skipped.empty()) {
      log::debug("[eval] {}: keys of another version skipped: {}", source.resolved_config,
                 fmt::join(skipped, ", "));
    }
    if (cfg.run.stage != config::Stage::Ppo) return out;
    out.oracle = OracleTransform::from_config(cfg.transform, cfg.calibration.num_samples);
    out.phi = out.oracle->phi;
    out.label = out.oracle->describe();
  } catch (const Error& e) {
    log::warn("[eval] {}: cannot read the training config ({}); no theory curve or oracle for {}",
              source.resolved_config, e.what(), source.name);
  }
  return out;
}

Estimate summarize(const std::vector<double>& per_prompt, const config::EvalConfig& e,
                   std::uint64_t seed) {
  if (e.bootstrap_resamples > 0) {
    return bootstrap_mean(per_prompt, e.bootstrap_resamples, e.confidence, seed);
  }
  Estimate est = mean_and_se(per_prompt);  // normal interval when the bootstrap is off
  const double z = theory::normal_quantile(0.5 + 0.5 * e.confidence);
  est.lo = est.mean - z * est.se;
  est.hi = est.mean + z * est.se;
  return est;
}

SampleStats stats_of(const ModelSamples& s) {
  SampleStats st;
  if (s.lengths.empty()) return st;
  const double n = static_cast<double>(s.lengths.size());
  for (std::size_t i = 0; i < s.lengths.size(); ++i) {
    st.mean_length += static_cast<double>(s.lengths[i]) / n;
    st.eos_rate += s.eos[i] / n;
  }
  return st;
}

double mean_of(const std::vector<double>& v) {
  double sum = 0;
  for (const double x : v) sum += x;
  return v.empty() ? 0.0 : sum / static_cast<double>(v.size());
}

// Prompt p's m values of a prompt-major vector.
std::vector<double> slice(const std::vector<double>& v, std::size_t p, std::int64_t m) {
  const auto first = static_cast<std::ptrdiff_t>(p * static_cast<std::size_t>(m));
  return {v.begin() + first, v.begin() + first + m};
}

// What the policies of this evaluation were measured against: the prompts' token ids and every
// judge's score of every base duel sample (EvalResults::pairing_key).
std::string pairing_key(const calibration::PromptSet& prompts, const ModelSamples& base,
                        const std::vector<std::string>& judges) {
  std::string bytes;
  for (const auto& ids : prompts.ids) {
    for (const std::int64_t id : ids) bytes += fmt::format("{} ", id);
    bytes += "\n";
  }
  for (std::size_t j = 0; j < judges.size(); ++j) {
    bytes += judges[j] + ":";
    for (const double s : base.scores[j]) bytes += fmt::format("{:a} ", s);
    bytes += "\n";
  }
  return fs::sha256_hex(bytes);
}

// Runs scripts/plot_eval.py on `input` (results.json or oracle.json) when Python with
// matplotlib is there.
void plot(const std::string& input, const std::string& output) {
  std::vector<std::string> candidates = {"scripts/plot_eval.py",
                                         std::string(build_source_dir()) + "/scripts/plot_eval.py"};
  std::string script;
  for (const auto& c : candidates) {
    if (stdfs::exists(c)) {
      script = c;
      break;
    }
  }
  // Debian's interpreter, where python3-matplotlib is installed, before any other in PATH.
  const char* python = stdfs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const std::string command = fmt::format("{} '{}' '{}' --out '{}'", python,
                                          script.empty() ? candidates[0] : script, input, output);
  if (script.empty()) {
    log::warn("[eval] scripts/plot_eval.py not found; no plot (run from the repository root)");
    return;
  }
  if (std::system((command + " >/dev/null").c_str()) == 0) {
    log::info("[eval] plot {}", output);
  } else {
    log::warn("[eval] the plot failed; needs python3-matplotlib (scripts/install_deps.sh): {}",
              command);
  }
}

// This rank's contiguous share of the prompts: [first, first + count) of `n`, `per_rank` each
// (the last ranks may have fewer, or none).
struct Shard {
  std::size_t first = 0, count = 0, per_rank = 0;
};
Shard shard_of(std::size_t n, runtime::Distributed* dist) {
  if (dist == nullptr || !dist->active()) return {0, n, n};
  const auto w = static_cast<std::size_t>(dist->world_size());
  const std::size_t per = (n + w - 1) / w;
  const std::size_t first = std::min(n, static_cast<std::size_t>(dist->rank()) * per);
  return {first, std::min(per, n - first), per};
}

// The whole evaluation's per-sample results from every rank's share, in prompt order (every rank
// receives them; the shares are padded to the same size for the gather). `with_kl`: the samples
// carry KL estimates (a policy's, not the base's). Texts stay with the rank that drew them.
ModelSamples gather_samples(const ModelSamples& local, std::size_t n, std::int64_t m,
                            std::size_t per_rank, bool with_kl, runtime::Distributed* dist) {
  if (dist == nullptr || !dist->active()) return local;
  const std::size_t rows = per_rank * static_cast<std::size_t>(m);
  auto gather = [&](const auto& values) {
    at::Tensor t = at::zeros({static_cast<std::int64_t>(rows)}, at::kDouble);
    double* d = t.data_ptr<double>();
    for (std::size_t i = 0; i < values.size(); ++i) d[i] = static_cast<double>(values[i]);
    const at::Tensor all = dist->all_gather_cat(t).contiguous();
    const double* p = all.data_ptr<double>();
    std::vector<double> out;
    for (std::size_t r = 0; r < static_cast<std::size_t>(dist->world_size()); ++r) {
      const std::size_t first = std::min(n, r * per_rank);
      const std::size_t real = std::min(per_rank, n - first) * static_cast<std::size_t>(m);
      out.insert(out.end(), p + r * rows, p + r * rows + real);
    }
    return out;
  };
  ModelSamples all;
  for (const auto& s : local.scores) all.scores.push_back(gather(s));
  if (with_kl) {
    all.k1 = gather(local.k1);
    all.k3 = gather(local.k3);
  }
  for (const double v : gather(local.lengths)) all.lengths.push_back(static_cast<std::int64_t>(v));
  for (const double v : gather(local.eos)) all.eos.push_back(static_cast<std::uint8_t>(v));
  return all;
}

UStats u_stats(const calibration::UKlEstimator& estimator, const config::EvalConfig& e,
               std::uint64_t seed, std::optional<double> kl) {
  const calibration::UDistribution d = estimator.finish(e.bootstrap_resamples, e.confidence, seed);
  UStats u{d.histogram, d.mean_u, d.u_kl, std::nullopt};
  if (kl && *kl > kMinKl) u.kl_efficiency = d.u_kl.mean / *kl;
  return u;
}

// One model's samples of this rank's prompts, for the sample records.
struct RecordSet {
  std::string model, set;  // e.g. "base" / "duel", "base" / "calibration", "<policy>" / "policy"
  const ModelSamples* samples;
  std::int64_t per_prompt;
  bool leave_one_out;  // u against the calibration set without the sample itself
};

// samples.jsonl for this rank's prompts, prompt-major: every set's samples of a prompt, then the
// next prompt. `calibration[j][p]`: the sorted calibration set of prompt p (global index) under
// judge j (empty: no u).
std::string sample_records(const calibration::PromptSet& prompts, const Shard& shard,
                           const std::vector<RecordSet>& sets,
                           const std::vector<std::string>& judge_names,
                           const std::vector<std::vector<std::vector<double>>>& calibration) {
  std::string out;
  for (std::size_t i = 0; i < shard.count; ++i) {
    const std::size_t p = shard.first + i;
    for (const RecordSet& set : sets) {
      for (std::int64_t k = 0; k < set.per_prompt; ++k) {
        const std::size_t row =
            i * static_cast<std::size_t>(set.per_prompt) + static_cast<std::size_t>(k);
        nlohmann::ordered_json r;
        r["prompt_id"] = p;
        r["prompt"] = prompts.texts[p];
        r["model"] = set.model;
        r["set"] = set.set;
        r["index"] = k;
        r["response"] = set.samples->texts[row];
        r["tokens"] = set.samples->lengths[row];
        r["eos"] = set.samples->eos[row] != 0;
        nlohmann::ordered_json scores = nlohmann::ordered_json::object();
        nlohmann::ordered_json u = nlohmann::ordered_json::object();
        for (std::size_t j = 0; j < judge_names.size(); ++j) {
          const double score = set.samples->scores[j][row];
          scores[judge_names[j]] = score;
          const std::vector<double>& cal =
              calibration.empty() ? std::vector<double>{} : calibration[j][p];
          if (cal.empty() || (set.leave_one_out && cal.size() < 2)) {
            u[judge_names[j]] = nullptr;
          } else if (set.leave_one_out) {
            const auto lo = std::lower_bound(cal.begin(), cal.end(), score) - cal.begin();
            const auto hi = std::upper_bound(cal.begin(), cal.end(), score) - cal.begin();
            u[judge_names[j]] = (static_cast<double>(lo) + 0.5 * static_cast<double>(hi - lo - 1)) /
                                static_cast<double>(cal.size() - 1);
          } else {
            u[judge_names[j]] = calibration::calibrated_reward(cal, score, false);
          }
        }
        r["scores"] = scores;
        r["u"] = u;
        out += r.dump();
        out += '\n';
      }
    }
  }
  return out;
}

// Writes out_dir/samples.jsonl.gz from every rank's records (a gzip member per rank, joined in
// rank order by rank 0).
void write_sample_records(const std::string& out_dir, const std::string& records,
                          runtime::Distributed* dist) {
  const std::string file = out_dir + "/samples.jsonl.gz";
  const std::string compressed = fs::gzip_compress(records);
  if (dist == nullptr || !dist->active()) {
    fs::write_file_atomic(file, compressed);
    return;
  }
  auto part = [&](int rank) { return fmt::format("{}.rank{}", file, rank); };
  fs::create_directories(out_dir);
  if (!dist->is_main()) fs::write_file_atomic(part(dist->rank()), compressed);
  dist->barrier();
  if (!dist->is_main()) return;
  std::string all = compressed;
  for (int r = 1; r < dist->world_size(); ++r) {
    all += fs::read_file(part(r));
    stdfs::remove(part(r));
  }
  fs::write_file_atomic(file, all);
}

}  // namespace

EvalResults run_evaluation(const config::LoadedConfig& loaded, const std::string& out_dir,
                           runtime::Distributed* dist, bool oracle_only) {
  const config::ExperimentConfig& cfg = loaded.config;
  const config::EvalConfig& e = cfg.eval;
  const bool with_oracle = oracle_only || cfg.oracle.enabled;
  const c10::Device device = runtime::resolve_device(cfg.run.device);
  Timer wall;
  auto tok = tokenizer::load_configured_tokenizer(loaded);
  calibration::PromptSet prompts = calibration::load_prompt_set(
      cfg.data.eval_prompts_file, cfg.data.prompt_field, cfg.data.max_prompt_tokens, *tok);
  if (e.num_prompts > 0 && static_cast<std::size_t>(e.num_prompts) < prompts.ids.size()) {
    prompts.ids.resize(static_cast<std::size_t>(e.num_prompts));
    prompts.keys.resize(prompts.ids.size());
    prompts.texts.resize(prompts.ids.size());
  }
  const std::int64_t m = e.samples_per_prompt;
  const std::int64_t kc = e.calibration_samples;
  const std::size_t n_prompts = prompts.ids.size();
  if (!oracle_only && e.policies.empty()) {
    throw ConfigError(
        {"eval.policies: is empty; expected at least one policy to evaluate (a "
         "model directory, training checkpoint or run directory)"});
  }
  const std::int64_t largest_n = *std::max_element(e.best_of_n.begin(), e.best_of_n.end());
  if (with_oracle && kc < std::max<std::int64_t>(2, largest_n)) {
    throw ConfigError({fmt::format(
        "eval.calibration_samples: got {}, expected at least {} for the oracle (its candidates, "
        "each calibrated against the others)",
        kc, std::max<std::int64_t>(2, largest_n))});
  }

  // The policies and what they were trained with, before any sampling.
  struct PolicyPlan {
    PolicySource source;
    std::string name;
    TrainingTransform transform;
  };
  std::vector<PolicyPlan> plans;
  std::set<std::string> names;
  for (const std::string& path : oracle_only ? std::vector<std::string>{} : e.policies) {
    PolicyPlan plan{resolve_policy(path, e.base_model), "", {}};
    plan.name = plan.source.name;
    for (int k = 2; !names.insert(plan.name).second; ++k)
      plan.name = fmt::format("{}#{}", plan.source.name, k);
    plan.transform = training_transform(plan.source);
    plans.push_back(std::move(plan));
  }
  // The oracle's transforms: the configured ones, then each policy's own.
  std::vector<OracleTransform> transforms;
  if (with_oracle) {
    auto add = [&](const OracleTransform& t) {
      for (const auto& have : transforms) {
        if (have.spec() == t.spec()) return;
      }
      transforms.push_back(t);
    };
    for (std::size_t i = 0; i < cfg.oracle.transforms.size(); ++i) {
      config::TransformConfig t;
      if (auto error = config::parse_transform_spec(cfg.oracle.transforms[i], t)) {
        throw ConfigError({fmt::format("oracle.transforms: item {}: {}", i, *error)});
      }
      add(OracleTransform::from_config(t, kc - 1));
    }
    for (const PolicyPlan& plan : plans) {
      if (plan.transform.oracle) add(*plan.transform.oracle);
    }
  }

  // Judges, in config order.
  std::vector<std::unique_ptr<reward::RewardScorer>> owned;
  std::vector<reward::RewardScorer*> judges;
  std::vector<std::string> judge_names;
  for (const config::Judge j : e.judges) {
    config::ExperimentConfig c = cfg;
    c.reward.kind = j == config::Judge::Gold      ? config::RewardKind::Gold
                    : j == config::Judge::Command ? config::RewardKind::Command
                                                  : config::RewardKind::Model;
    owned.push_back(reward::make_scorer(c, *tok, device));
    judges.push_back(owned.back().get());
    judge_names.emplace_back(config::enum_name(j));
  }

  SamplingPlan plan;
  plan.options = generation::options_from_config(cfg.generation, tok->eos_id(), tok->pad_id());
  plan.sampler_dtype = cfg.generation.dtype;
  plan.batch_size = cfg.generation.batch_size;
  plan.seed = cfg.run.seed;
  plan.dtype = cfg.run.dtype;
  plan.keep_texts = e.write_samples;
  if (const char* v = std::getenv("INFALIGN_TEST_RANK0_DELAY_MS");
      v != nullptr && (dist == nullptr || dist->is_main())) {
    plan.test_delay_ms = std::atoll(v);
  }

  if (cfg.generation.top_k != 0 || cfg.generation.top_p != 1.0) {
    log::warn(
        "[eval] generation.top_k = {} / top_p = {}: the samples come from the truncated "
        "distributions, but the KL is computed between the untruncated ones (as PPO trains them)",
        cfg.generation.top_k, cfg.generation.top_p);
  }
  log::info(
      "[eval] {} prompts of {} x M = {} samples per model and {} calibration samples; base {}; "
      "{} polic{}; judges {}{}",
      n_prompts, cfg.data.eval_prompts_file, m, kc, e.base_model, plans.size(),
      plans.size() == 1 ? "y" : "ies", fmt::join(judge_names, ", "),
      with_oracle ? fmt::format("; oracle of {} transform{}", transforms.size(),
                                transforms.size() == 1 ? "" : "s")
                  : "");
  // This rank's prompts (all of them in one process).
  const Shard shard = shard_of(n_prompts, dist);
  calibration::PromptSet mine;
  for (std::size_t p = shard.first; p < shard.first + shard.count; ++p) {
    mine.ids.push_back(prompts.ids[p]);
    mine.keys.push_back(prompts.keys[p]);
    mine.texts.push_back(prompts.texts[p]);
  }
  const std::int64_t per_prompt_total = m + kc + m * static_cast<std::int64_t>(plans.size());
  const std::int64_t total = static_cast<std::int64_t>(n_prompts) * per_prompt_total;
  const std::int64_t total_here = static_cast<std::int64_t>(shard.count) * per_prompt_total;
  Progress progress(total_here, {"eval", "sample", cfg.logging.progress_interval_seconds});
  std::int64_t done = 0;
  model::CausalLm base = model::load_causal_lm(e.base_model, {device, at::kFloat});
  // The base's samples that every policy duels (stream "base"), then the calibration set.
  plan.stream = "base";
  const ModelSamples base_local =
      sample_and_score(base, nullptr, tok.get(), mine, m, plan, judges, &progress, &done);
  const ModelSamples base_samples =
      gather_samples(base_local, n_prompts, m, shard.per_rank, false, dist);
  ModelSamples calib_local, calib_samples;
  std::vector<std::vector<std::vector<double>>> calib_sorted;  // [judge][prompt], ascending
  if (kc > 0) {
    plan.stream = "calibration";
    calib_local =
        sample_and_score(base, nullptr, tok.get(), mine, kc, plan, judges, &progress, &done);
    calib_samples = gather_samples(calib_local, n_prompts, kc, shard.per_rank, false, dist);
    calib_sorted.assign(judges.size(), std::vector<std::vector<double>>(n_prompts));
    for (std::size_t j = 0; j < judges.size(); ++j) {
      for (std::size_t p = 0; p < n_prompts; ++p) {
        calib_sorted[j][p] = slice(calib_samples.scores[j], p, kc);
        std::sort(calib_sorted[j][p].begin(), calib_sorted[j][p].end());
      }
    }
  }

  EvalResults results;
  results.version = build_version();
  results.config_hash = config::config_hash(cfg);
  results.base_path = e.base_model;
  results.prompts_file = cfg.data.eval_prompts_file;
  results.prompts = static_cast<std::int64_t>(n_prompts);
  results.samples_per_prompt = m;
  results.calibration_samples = kc;
  results.bootstrap_resamples = e.bootstrap_resamples;
  results.confidence = e.confidence;
  results.temperature = cfg.generation.temperature;
  results.seed = cfg.run.seed;
  results.pairing_key = pairing_key(prompts, base_samples, judge_names);
  results.base_stats = stats_of(base_samples);
  // u of the base's own duel samples: uniform in law, so its u_kl is the estimator's floor here.
  auto u_of = [&](const ModelSamples& s, std::size_t j, std::optional<double> kl) {
    calibration::UKlEstimator estimator;
    for (std::size_t p = 0; p < n_prompts; ++p) {
      estimator.add_prompt(calib_sorted[j][p], slice(s.scores[j], p, m));
    }
    return u_stats(estimator, e,
                   runtime::RngSet::derive_seed(cfg.run.seed, "u_kl:" + judge_names[j]), kl);
  };
  if (kc > 0) {
    for (std::size_t j = 0; j < judges.size(); ++j) {
      results.base_u.emplace_back(judge_names[j], u_of(base_samples, j, std::nullopt));
    }
  }

  // Per policy, judge and N: the win rate of every prompt (for the oracle gain fractions).
  std::vector<std::vector<std::vector<std::vector<double>>>> best_pp, worst_pp;
  std::vector<ModelSamples> policy_local;
  for (const PolicyPlan& pp : plans) {
    PolicyResult pr;
    pr.name = pp.name;
    pr.path = e.policies[results.policies.size()];
    pr.transform = pp.transform.label;
    log::info("[eval] policy {}: weights {}{}", pr.name, pp.source.weights_file,
              pr.transform.empty() ? "" : ", trained with " + pr.transform);
    model::CausalLm policy =
        model::load_causal_lm(pp.source.config_dir, pp.source.weights_file, {device, at::kFloat});
    plan.stream = "policy";  // every policy draws with the same seeds: common random numbers
    ModelSamples local =
        sample_and_score(policy, &base, tok.get(), mine, m, plan, judges, &progress, &done);
    const ModelSamples s = gather_samples(local, n_prompts, m, shard.per_rank, true, dist);
    if (e.write_samples) policy_local.push_back(std::move(local));
    pr.kl_k1 = mean_and_se(s.k1);
    for (std::size_t p = 0; p < n_prompts; ++p)
      pr.kl_k1_per_prompt.push_back(mean_of(slice(s.k1, p, m)));
    pr.kl_k3 = mean_and_se(s.k3);
    pr.stats = stats_of(s);
    best_pp.emplace_back(judges.size());
    worst_pp.emplace_back(judges.size());
    for (std::size_t j = 0; j < judges.size(); ++j) {
      JudgeResult jr;
      jr.judge = judge_names[j];
      jr.policy_mean = mean_of(s.scores[j]);
      jr.base_mean = mean_of(base_samples.scores[j]);
      // The same bootstrap resamples of prompts for every N and procedure of this judge.
      const std::uint64_t boot_seed =
          runtime::RngSet::derive_seed(cfg.run.seed, "bootstrap:" + jr.judge);
      for (const std::int64_t n : e.best_of_n) {
        std::vector<double> best(n_prompts), worst(n_prompts);
        for (std::size_t p = 0; p < n_prompts; ++p) {
          const std::vector<double> a = slice(s.scores[j], p, m);
          const std::vector<double> b = slice(base_samples.scores[j], p, m);
          best[p] = best_of_n_win_rate(a, b, n);
          worst[p] = worst_of_n_win_rate(a, b, n);
        }
        jr.rows.push_back(
            {n, summarize(best, e, boot_seed), summarize(worst, e, boot_seed), best, worst});
        best_pp.back()[j].push_back(std::move(best));
        worst_pp.back()[j].push_back(std::move(worst));
      }
      if (kc > 0) jr.u = u_of(s, j, pr.kl_k1.mean);
      pr.judges.push_back(std::move(jr));
    }
    const bool rm_judge =
        std::find(e.judges.begin(), e.judges.end(), config::Judge::RewardModel) != e.judges.end();
    if (pp.transform.phi && rm_judge) {
      pr.theory =
          theory_curve(*pp.transform.phi, e.best_of_n, std::max(2.0, 2.0 * pr.kl_k1.mean), 24);
    }
    results.policies.push_back(std::move(pr));
  }
  progress.finish();

  if (e.write_samples) {
    std::vector<RecordSet> sets = {{"base", "duel", &base_local, m, false}};
    if (kc > 0) sets.push_back({"base", "calibration", &calib_local, kc, true});
    for (std::size_t i = 0; i < policy_local.size(); ++i) {
      sets.push_back({results.policies[i].name, "policy", &policy_local[i], m, false});
    }
    fs::create_directories(out_dir);
    write_sample_records(out_dir, sample_records(prompts, shard, sets, judge_names, calib_sorted),
                         dist);
  }
  if (dist != nullptr && !dist->is_main()) return results;  // rank 0 computes and writes the rest

  if (with_oracle) {
    Timer oracle_timer;
    OracleReport report;
    report.calibration_samples = report.candidates = kc;
    report.opponents = m;
    report.n = e.best_of_n;
    for (std::size_t j = 0; j < judges.size(); ++j) {
      std::vector<OracleSamples> samples(n_prompts);
      for (std::size_t p = 0; p < n_prompts; ++p) {
        samples[p].candidates = slice(calib_samples.scores[j], p, kc);
        samples[p].opponents = slice(base_samples.scores[j], p, m);
      }
      const std::uint64_t seed =
          runtime::RngSet::derive_seed(cfg.run.seed, "oracle_gain:" + judge_names[j]);
      for (const OracleTransform& t : transforms) {
        const Oracle oracle(samples, t, e.best_of_n, /*leave_one_out=*/true);
        OracleCurve curve{judge_names[j], t.spec(), t.describe(), oracle.max_kl(), {}};
        for (const double kl : cfg.oracle.kl_points) {
          if (!(kl < oracle.max_kl())) {
            log::warn(
                "[eval] oracle {} under {}: KL {} is beyond the {:.3f} that {} candidates "
                "per prompt reach; that point is left out",
                t.describe(), judge_names[j], kl, oracle.max_kl(), kc);
            continue;
          }
          const OracleRates r = oracle.at_kl(kl);
          curve.points.push_back({kl, r.beta, r.kl, r.best, r.worst});
        }
        report.curves.push_back(std::move(curve));
        // The policies trained with this transform: their fraction of its gain at their KL.
        for (std::size_t i = 0; i < plans.size(); ++i) {
          if (!plans[i].transform.oracle || plans[i].transform.oracle->spec() != t.spec()) continue;
          PolicyResult& pr = results.policies[i];
          OracleGain gain;
          gain.transform = t.spec();
          gain.kl = pr.kl_k1.mean;
          if (!(gain.kl > kMinKl)) {
            gain.note = fmt::format("undefined: the policy's KL ({:.4f}) is about 0", gain.kl);
          } else if (!(gain.kl < oracle.max_kl())) {
            gain.note = fmt::format(
                "undefined: the policy's KL ({:.3f}) is beyond what {} candidates per prompt "
                "reach ({:.3f}); raise eval.calibration_samples",
                gain.kl, kc, oracle.max_kl());
          } else {
            const OracleRates r = oracle.at_kl(gain.kl);
            gain.beta = r.beta;
            for (std::size_t k = 0; k < e.best_of_n.size(); ++k) {
              for (const bool best : {true, false}) {
                if (e.best_of_n[k] == 1 && !best) continue;
                const auto& pol = best ? best_pp[i][j][k] : worst_pp[i][j][k];
                const auto& orc = best ? r.best_per_prompt[k] : r.worst_per_prompt[k];
                gain.rows.push_back(
                    {e.best_of_n[k], best, mean_of(pol), mean_of(orc),
                     gain_fraction(pol, orc, e.bootstrap_resamples, e.confidence, seed)});
              }
            }
          }
          pr.judges[j].oracle = std::move(gain);
        }
      }
    }
    results.oracle = std::move(report);
    log::info("[eval] oracle: {} transform{} x {} judge{} in {:.1f} s", transforms.size(),
              transforms.size() == 1 ? "" : "s", judges.size(), judges.size() == 1 ? "" : "s",
              oracle_timer.seconds());
  }
  results.seconds = wall.seconds();
  results.samples_per_second = static_cast<double>(total) / results.seconds;

  fs::create_directories(out_dir);
  if (!oracle_only) {
    fs::write_file_atomic(out_dir + "/results.json", results_json(results));
    fs::write_file_atomic(out_dir + "/results.csv", results_csv(results));
  }
  if (results.oracle) {
    fs::write_file_atomic(out_dir + "/oracle.json", oracle_json(results));
    fs::write_file_atomic(out_dir + "/oracle.csv", oracle_csv(*results.oracle));
  }
  log::info("[eval] done in {:.1f} s ({:.0f} samples/s incl. scoring and KL)\n{}", results.seconds,
            results.samples_per_second, results_table(results));
  log::info("[eval] wrote {}{}{}", out_dir,
            oracle_only ? "/oracle.json, oracle.csv" : "/results.json, results.csv",
            e.write_samples ? ", samples.jsonl.gz" : "");
  if (e.plot) {
    if (oracle_only) {
      plot(out_dir + "/oracle.json", out_dir + "/oracle.png");
    } else {
      plot(out_dir + "/results.json", out_dir + "/win_rates.png");
    }
  }
  return results;
}

}  // namespace infalign::eval
