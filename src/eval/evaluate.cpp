#include "infalign/eval/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <set>

#include <fmt/format.h>

#include <ATen/ATen.h>

#include "infalign/calibration/calibrate.h"
#include "infalign/checkpoint/manager.h"
#include "infalign/config/names.h"
#include "infalign/core/build_info.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/core/logging.h"
#include "infalign/core/progress.h"
#include "infalign/core/signals.h"
#include "infalign/core/timer.h"
#include "infalign/model/hf_io.h"
#include "infalign/runtime/device.h"
#include "infalign/runtime/distributed.h"
#include "infalign/runtime/rng.h"
#include "infalign/theory/calibrated.h"
#include "infalign/tokenizer/sentencepiece_tokenizer.h"

namespace infalign::eval {

namespace stdfs = std::filesystem;

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
    for (std::size_t j = 0; j < judges.size(); ++j) {
      INFALIGN_CHECK(tok != nullptr, "sample_and_score: judges need the tokenizer");
      const auto items = reward::scored_texts(prompt_ptrs, gen, *tok, *judges[j]);
      const std::vector<double> s = judges[j]->score(items);
      out.scores[j].insert(out.scores[j].end(), s.begin(), s.end());
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
      const at::Tensor k1 =
          generation::kl_estimate(lp, lb, m, config::KlEstimator::K1).sum(1).cpu();
      const at::Tensor k3 =
          generation::kl_estimate(lp, lb, m, config::KlEstimator::K3).sum(1).cpu();
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
  if (has(dir, "config.json") && has(dir, "model.safetensors")) {
    s.config_dir = dir.string();
    s.weights_file = (dir / "model.safetensors").string();
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
        "{}: not a policy: expected an HF model directory (config.json + model.safetensors), a "
        "training checkpoint (policy.safetensors), or a run directory holding final/ or "
        "checkpoints/",
        path));
  }
  return s;
}

namespace {

// The transform a policy was trained with, from its run's resolved config ("" if unknown or
// raw), and the theory transform when there is one.
std::string training_transform(const PolicySource& source, std::optional<theory::Transform>* phi) {
  if (source.resolved_config.empty()) return "";
  try {
    const config::ExperimentConfig cfg =
        config::load_experiment_config(source.resolved_config).config;
    if (cfg.run.stage != config::Stage::Ppo) return "";
    if (cfg.transform.kind == config::TransformKind::Raw) return "raw reward";
    *phi = calibration::make_transform(cfg.transform, cfg.calibration.num_samples);
    return (*phi)->describe();
  } catch (const Error& e) {
    log::warn("[eval] {}: cannot read the training config ({}); no theory curve for {}",
              source.resolved_config, e.what(), source.name);
    return "";
  }
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

// Runs scripts/plot_eval.py on results.json when Python with matplotlib is there.
void plot(const std::string& out_dir) {
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
  const std::string command =
      fmt::format("{} '{}' '{}/results.json' --out '{}/win_rates.png'", python,
                  script.empty() ? candidates[0] : script, out_dir, out_dir);
  if (script.empty()) {
    log::warn("[eval] scripts/plot_eval.py not found; no plot (run from the repository root)");
    return;
  }
  if (std::system((command + " >/dev/null").c_str()) == 0) {
    log::info("[eval] plot {}/win_rates.png", out_dir);
  } else {
    log::warn("[eval] the plot failed; needs python3-matplotlib (scripts/install_deps.sh): {}",
              command);
  }
}

}  // namespace

namespace {

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
// carry KL estimates (a policy's, not the base's).
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

}  // namespace

EvalResults run_evaluation(const config::LoadedConfig& loaded, const std::string& out_dir,
                           runtime::Distributed* dist) {
  const config::ExperimentConfig& cfg = loaded.config;
  const config::EvalConfig& e = cfg.eval;
  const c10::Device device = runtime::resolve_device(cfg.run.device);
  Timer wall;
  auto tok = tokenizer::load_configured_tokenizer(loaded);
  calibration::PromptSet prompts =
      calibration::load_prompt_set(cfg.data.eval_prompts_file, cfg.data.max_prompt_tokens, *tok);
  if (e.num_prompts > 0 && static_cast<std::size_t>(e.num_prompts) < prompts.ids.size()) {
    prompts.ids.resize(static_cast<std::size_t>(e.num_prompts));
    prompts.keys.resize(prompts.ids.size());
    prompts.texts.resize(prompts.ids.size());
  }
  const std::int64_t m = e.samples_per_prompt;
  const std::size_t n_prompts = prompts.ids.size();
  if (e.policies.empty()) {
    throw ConfigError(
        {"eval.policies: is empty; expected at least one policy to evaluate (a "
         "model directory, training checkpoint or run directory)"});
  }

  // Judges, in config order.
  std::vector<std::unique_ptr<reward::RewardScorer>> owned;
  std::vector<reward::RewardScorer*> judges;
  std::vector<std::string> judge_names;
  for (const config::Judge j : e.judges) {
    config::ExperimentConfig c = cfg;
    c.reward.kind = j == config::Judge::Gold ? config::RewardKind::Gold : config::RewardKind::Model;
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

  if (cfg.generation.top_k != 0 || cfg.generation.top_p != 1.0) {
    log::warn(
        "[eval] generation.top_k = {} / top_p = {}: the samples come from the truncated "
        "distributions, but the KL is computed between the untruncated ones (as PPO trains them)",
        cfg.generation.top_k, cfg.generation.top_p);
  }
  log::info("[eval] {} prompts of {} x M = {} samples per model; base {}; {} polic{}; judges {}",
            n_prompts, cfg.data.eval_prompts_file, m, e.base_model, e.policies.size(),
            e.policies.size() == 1 ? "y" : "ies", fmt::join(judge_names, ", "));
  // This rank's prompts (all of them in one process).
  const Shard shard = shard_of(n_prompts, dist);
  calibration::PromptSet mine;
  for (std::size_t p = shard.first; p < shard.first + shard.count; ++p) {
    mine.ids.push_back(prompts.ids[p]);
    mine.keys.push_back(prompts.keys[p]);
    mine.texts.push_back(prompts.texts[p]);
  }
  const std::int64_t total =
      static_cast<std::int64_t>(n_prompts) * m * static_cast<std::int64_t>(1 + e.policies.size());
  const std::int64_t total_here =
      static_cast<std::int64_t>(shard.count) * m * static_cast<std::int64_t>(1 + e.policies.size());
  Progress progress(total_here, {"eval", "sample", cfg.logging.progress_interval_seconds});
  std::int64_t done = 0;
  model::CausalLm base = model::load_causal_lm(e.base_model, {device, at::kFloat});
  plan.stream = "base";
  const ModelSamples base_samples = gather_samples(
      sample_and_score(base, nullptr, tok.get(), mine, m, plan, judges, &progress, &done),
      n_prompts, m, shard.per_rank, false, dist);

  EvalResults results;
  results.version = build_version();
  results.config_hash = config::config_hash(cfg);
  results.base_path = e.base_model;
  results.prompts_file = cfg.data.eval_prompts_file;
  results.prompts = static_cast<std::int64_t>(n_prompts);
  results.samples_per_prompt = m;
  results.bootstrap_resamples = e.bootstrap_resamples;
  results.confidence = e.confidence;
  results.temperature = cfg.generation.temperature;
  results.seed = cfg.run.seed;
  results.base_stats = stats_of(base_samples);

  std::set<std::string> names;
  for (const std::string& path : e.policies) {
    const PolicySource source = resolve_policy(path, e.base_model);
    PolicyResult pr;
    pr.name = source.name;
    for (int k = 2; !names.insert(pr.name).second; ++k)
      pr.name = fmt::format("{}#{}", source.name, k);
    pr.path = path;
    std::optional<theory::Transform> phi;
    pr.transform = training_transform(source, &phi);
    log::info("[eval] policy {}: weights {}{}", pr.name, source.weights_file,
              pr.transform.empty() ? "" : ", trained with " + pr.transform);
    model::CausalLm policy =
        model::load_causal_lm(source.config_dir, source.weights_file, {device, at::kFloat});
    plan.stream = "policy";  // every policy draws with the same seeds: common random numbers
    const ModelSamples s = gather_samples(
        sample_and_score(policy, &base, tok.get(), mine, m, plan, judges, &progress, &done),
        n_prompts, m, shard.per_rank, true, dist);
    pr.kl_k1 = mean_and_se(s.k1);
    pr.kl_k3 = mean_and_se(s.k3);
    pr.stats = stats_of(s);
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
          const auto first = static_cast<std::ptrdiff_t>(p * static_cast<std::size_t>(m));
          const std::vector<double> a(s.scores[j].begin() + first, s.scores[j].begin() + first + m);
          const std::vector<double> b(base_samples.scores[j].begin() + first,
                                      base_samples.scores[j].begin() + first + m);
          best[p] = best_of_n_win_rate(a, b, n);
          worst[p] = worst_of_n_win_rate(a, b, n);
        }
        jr.rows.push_back({n, summarize(best, e, boot_seed), summarize(worst, e, boot_seed)});
      }
      pr.judges.push_back(std::move(jr));
    }
    const bool rm_judge =
        std::find(e.judges.begin(), e.judges.end(), config::Judge::RewardModel) != e.judges.end();
    if (phi && rm_judge) {
      pr.theory = theory_curve(*phi, e.best_of_n, std::max(2.0, 2.0 * pr.kl_k1.mean), 24);
    }
    results.policies.push_back(std::move(pr));
  }
  progress.finish();
  results.seconds = wall.seconds();
  results.samples_per_second = static_cast<double>(total) / results.seconds;
  if (dist != nullptr && !dist->is_main()) return results;  // rank 0 writes

  fs::create_directories(out_dir);
  fs::write_file_atomic(out_dir + "/results.json", results_json(results));
  fs::write_file_atomic(out_dir + "/results.csv", results_csv(results));
  log::info("[eval] done in {:.1f} s ({:.0f} samples/s incl. scoring and KL)\n{}", results.seconds,
            results.samples_per_second, results_table(results));
  log::info("[eval] wrote {}/results.json and {}/results.csv", out_dir, out_dir);
  if (e.plot) plot(out_dir);
  return results;
}

}  // namespace infalign::eval
