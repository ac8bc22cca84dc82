#include "infalign/ppo/offline.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include <fmt/format.h>

#include <ATen/ATen.h>

#include "infalign/calibration/builder.h"
#include "infalign/calibration/calibrate.h"
#include "infalign/calibration/u_kl.h"
#include "infalign/checkpoint/resume.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/core/logging.h"
#include "infalign/core/metrics.h"
#include "infalign/core/progress.h"
#include "infalign/core/timer.h"
#include "infalign/generation/generate.h"
#include "infalign/loop/training_loop.h"
#include "infalign/model/hf_io.h"
#include "infalign/ppo/core.h"
#include "infalign/reward/scorer.h"
#include "infalign/runtime/adamw.h"
#include "infalign/runtime/device.h"
#include "infalign/runtime/rng.h"
#include "infalign/runtime/schedule.h"
#include "infalign/theory/calibrated.h"
#include "infalign/tokenizer/sentencepiece_tokenizer.h"

namespace infalign::ppo {

std::vector<double> offline_weights(const std::vector<double>& rewards, double beta) {
  INFALIGN_CHECK(!rewards.empty() && beta > 0, "offline_weights: {} rewards at beta {}",
                 rewards.size(), beta);
  const double top = *std::max_element(rewards.begin(), rewards.end());
  std::vector<double> w(rewards.size());
  double z = 0;
  for (std::size_t k = 0; k < w.size(); ++k) z += w[k] = std::exp((rewards[k] - top) / beta);
  for (double& x : w) x /= z;
  return w;
}

namespace {

// Weights below this carry nothing measurable; their samples are skipped.
constexpr double kNegligibleWeight = 1e-9;

// One weighted sequence: prompt index, response ids (EOS included when it ended), weight.
struct WeightedSample {
  std::size_t prompt;
  const std::vector<std::int64_t>* response;
  double weight;
};

// Prompt + response rows, left-padded prompts and right-padded responses, on `device`.
struct Batch {
  at::Tensor ids, mask, positions, response_ids, response_mask;
  std::int64_t prompt_length = 0;
};
Batch make_batch(const std::vector<const std::vector<std::int64_t>*>& prompts,
                 const std::vector<const std::vector<std::int64_t>*>& responses,
                 std::int64_t pad_id, c10::Device device) {
  std::vector<std::vector<std::int64_t>> p;
  for (const auto* x : prompts) p.push_back(*x);
  auto [prompt_ids, prompt_mask] = generation::left_pad(p, pad_id, device);
  std::int64_t r = 1;
  for (const auto* y : responses)
    r = std::max<std::int64_t>(r, static_cast<std::int64_t>(y->size()));
  const auto b = static_cast<std::int64_t>(responses.size());
  at::Tensor ids = at::full({b, r}, pad_id, at::kLong), mask = at::zeros({b, r}, at::kLong);
  for (std::int64_t i = 0; i < b; ++i) {
    const auto& y = *responses[static_cast<std::size_t>(i)];
    for (std::size_t t = 0; t < y.size(); ++t) {
      ids[i][static_cast<std::int64_t>(t)] = y[t];
      mask[i][static_cast<std::int64_t>(t)] = 1;
    }
  }
  Batch out;
  out.prompt_length = prompt_ids.size(1);
  out.response_ids = ids.to(device);
  out.response_mask = mask.to(device);
  out.ids = at::cat({prompt_ids, out.response_ids}, 1);
  out.mask = at::cat({prompt_mask, out.response_mask}, 1);
  out.positions = model::position_ids_from_mask(out.mask);
  return out;
}

// Sum over each row's response tokens of log pi(y_t | ...) at the sampling temperature. [B]
at::Tensor sequence_logprobs(model::CausalLm& lm, const Batch& b, double temperature,
                             config::DType dtype) {
  const at::Tensor logits = generation::response_logits(
      lm, b.ids, b.mask, b.positions, b.prompt_length, b.response_ids.size(1), dtype);
  return (generation::token_logprobs(logits, b.response_ids, temperature) *
          b.response_mask.to(at::kFloat))
      .sum(1);
}

}  // namespace

OfflineResult train_offline(const config::LoadedConfig& loaded) {
  const config::ExperimentConfig& cfg = loaded.config;
  const config::OfflineConfig& o = cfg.offline;
  const config::TrainConfig& t = cfg.train;
  const c10::Device device = runtime::resolve_device(cfg.run.device);
  fs::create_directories(cfg.run.run_dir);
  auto tok = tokenizer::load_configured_tokenizer(loaded);
  const calibration::PromptSet prompts = calibration::load_prompt_set(cfg, *tok);
  const bool raw = cfg.transform.kind == config::TransformKind::Raw;
  std::optional<calibration::CalibrationCache> cache;
  std::optional<theory::Transform> phi;
  std::string cache_hash = "none";
  if (!raw) {
    cache = calibration::ensure_cache(loaded);
    phi = calibration::make_transform(cfg.transform, cfg.calibration.num_samples);
    cache_hash = fs::sha256_file(calibration::cache_path(cfg));
  }
  double beta = cfg.ppo.kl_coef;
  if (cfg.ppo.kl_coef_from_theory)
    beta = theory::solve_beta(theory::PhiGrid(*phi), *cfg.ppo.target_kl);
  if (!(beta > 0)) {
    throw ConfigError({fmt::format(
        "ppo.kl_coef: got {}, expected beta > 0: the offline solver weights samples by "
        "exp(R / beta)",
        beta)});
  }
  auto scorer = reward::make_scorer(cfg, *tok, device);
  log::info("[offline] target: pi_ref exp(R / beta) / Z with R = {} and beta {:.6g}{}",
            raw ? std::string("the raw reward") : phi->describe() + " of u", beta,
            cfg.ppo.kl_coef_from_theory
                ? fmt::format(" (the theory tool's beta for KL {})", *cfg.ppo.target_kl)
                : std::string());

  // 1. The weighted base samples.
  const std::int64_t k = o.samples_per_prompt;
  log::info("[offline] drawing {} base samples of each of {} prompts", k, prompts.ids.size());
  const calibration::BaseDraws draws =
      calibration::draw_base_samples(loaded, *tok, *scorer, prompts, k, "offline", true);
  std::vector<std::vector<WeightedSample>> samples(prompts.ids.size());
  double target_kl = 0, ess = 0, kept = 0;
  for (std::size_t x = 0; x < prompts.ids.size(); ++x) {
    std::vector<double> r = draws.rewards[x];
    if (!raw) {
      const std::vector<double>* sorted = cache->find(prompts.keys[x]);
      INFALIGN_CHECK(sorted != nullptr, "prompt {} missing from the calibration cache", x);
      for (double& v : r) {
        v = (*phi)(calibration::calibrated_reward(*sorted, v, cfg.calibration.plus_one));
      }
    }
    const std::vector<double> w = offline_weights(r, beta);
    double sum_sq = 0;
    for (std::size_t j = 0; j < w.size(); ++j) {
      if (w[j] > 0) target_kl += w[j] * std::log(static_cast<double>(k) * w[j]);
      sum_sq += w[j] * w[j];
      if (w[j] > kNegligibleWeight) {
        samples[x].push_back({x, &draws.responses[x][j], w[j]});
        kept += 1;
      }
    }
    ess += 1.0 / sum_sq;
  }
  const auto n_prompts = static_cast<double>(prompts.ids.size());
  log::info(
      "[offline] weights: effective sample size {:.1f} of {} per prompt; the weighted samples' "
      "KL to the base {:.3f} (at most log K = {:.2f}); {:.0f} samples of non-negligible weight",
      ess / n_prompts, k, target_kl / n_prompts, std::log(static_cast<double>(k)), kept);

  // 2. The policy (trained) and, for the checks, the frozen reference.
  const model::LoadOptions load{device, at::kFloat};
  model::CausalLm policy = model::load_causal_lm(cfg.model.init_from, load);
  model::CausalLm reference = model::load_causal_lm(cfg.model.init_from, load);
  reference->eval();
  for (auto& p : reference->parameters()) p.set_requires_grad(false);
  runtime::AdamW opt(checkpoint::named_parameters(*policy),
                     {t.adam_beta1, t.adam_beta2, t.adam_eps, t.weight_decay});
  runtime::RngSet rngs(cfg.run.seed);
  loop::TrainingLoop loop(loaded,
                          {t.total_steps,
                           t.log_every_steps,
                           static_cast<std::int64_t>(prompts.ids.size()),
                           {{"policy", *policy, opt}}},
                          rngs);
  const std::map<std::string, std::string> hashes = {
      {"reference", reward::model_content_hash(cfg.model.init_from)},
      {"reward", scorer->content_hash()},
      {"calibration", cache_hash}};
  checkpoint::verify_input_hashes(loop.resumed_from(), loop.state(), hashes);

  // The check: the policy's samples of evenly spaced training prompts (the same seeds at every
  // check), their KL to the reference and their calibrated rewards.
  const double temperature = cfg.generation.temperature;
  std::vector<std::size_t> check_prompts;
  const std::size_t n_check = std::min<std::size_t>(prompts.ids.size(), o.eval_prompts);
  for (std::size_t i = 0; i < n_check; ++i)
    check_prompts.push_back(i * prompts.ids.size() / n_check);
  auto check = [&](MetricValues& values) {
    if (check_prompts.empty()) return;
    at::NoGradGuard no_grad;
    policy->eval();
    generation::GenerationOptions g =
        generation::options_from_config(cfg.generation, tok->eos_id(), tok->pad_id());
    std::vector<std::vector<std::int64_t>> rows;
    std::vector<std::size_t> row_prompt;
    for (const std::size_t x : check_prompts) {
      for (std::int64_t s = 0; s < o.eval_samples; ++s) {
        rows.push_back(prompts.ids[x]);
        row_prompt.push_back(x);
        g.row_seeds.push_back(runtime::RngSet::derive_seed(
            cfg.run.seed, fmt::format("offline_check:{:016x}:{}", prompts.keys[x], s)));
      }
    }
    const generation::GenerationResult gen = generation::generate(policy, rows, g, at::Generator());
    const at::Tensor ids = at::cat({gen.prompt_ids, gen.response_ids}, 1);
    const at::Tensor mask = at::cat({gen.prompt_mask, gen.response_mask}, 1);
    const at::Tensor pos = model::position_ids_from_mask(mask);
    const auto P = gen.prompt_ids.size(1), R = gen.response_ids.size(1);
    auto logp = [&](model::CausalLm& lm) {
      return generation::token_logprobs(
          generation::response_logits(lm, ids, mask, pos, P, R, cfg.run.dtype), gen.response_ids,
          temperature);
    };
    const at::Tensor kl =
        generation::kl_k1(logp(policy), logp(reference), gen.response_mask).sum(1).to(at::kDouble);
    const double mean_kl = kl.mean().item<double>();
    values.emplace_back("check/kl", mean_kl);
    values.emplace_back("check/response_length_mean",
                        gen.response_lengths.to(at::kDouble).mean().item<double>());
    if (!raw) {
      std::vector<const std::vector<std::int64_t>*> prompt_ptrs;
      for (const std::size_t x : row_prompt) prompt_ptrs.push_back(&prompts.ids[x]);
      const std::vector<double> r =
          scorer->score(reward::scored_texts(prompt_ptrs, gen, *tok, scorer->needs_text()));
      calibration::UKlEstimator estimator(10);  // coarse: a few hundred samples
      double u_sum = 0;
      for (std::size_t i = 0; i < r.size(); ++i) {
        const std::vector<double>& sorted = *cache->find(prompts.keys[row_prompt[i]]);
        u_sum += calibration::calibrated_reward(sorted, r[i], false);
        estimator.add_prompt(sorted, {r[i]});
      }
      const double u_kl = estimator.finish(0, 0.95, 0).u_kl.mean;
      values.emplace_back("check/calibrated_u", u_sum / static_cast<double>(r.size()));
      values.emplace_back("check/u_kl", u_kl);
      values.emplace_back("check/kl_efficiency", mean_kl > 0.005 ? u_kl / mean_kl : 0.0);
    }
    policy->train();
  };

  Progress progress(t.total_steps, {"offline", "step", cfg.logging.progress_interval_seconds,
                                    std::nullopt, loop.step()});
  const std::int64_t micro = o.micro_batch_size;
  policy->train();
  while (!loop.done()) {
    loop.check_stop();
    Timer step_timer;
    const std::int64_t step = loop.step();
    const double lr = runtime::learning_rate(step, t.total_steps, t.warmup_steps, t.lr,
                                             t.lr_schedule, t.min_lr_ratio);
    // The step's prompts and their weighted samples; the loss is the mean over the prompts of
    // their weighted sequence negative log-likelihoods.
    std::vector<WeightedSample> rows;
    for (std::int64_t q = 0; q < o.prompts_per_step; ++q) {
      const auto x = static_cast<std::size_t>(loop.next_example());
      rows.insert(rows.end(), samples[x].begin(), samples[x].end());
    }
    const double per_prompt = 1.0 / static_cast<double>(o.prompts_per_step);
    double loss_sum = 0, tokens = 0;
    const auto chunk =
        static_cast<std::size_t>(micro > 0 ? micro : static_cast<std::int64_t>(rows.size()));
    for (std::size_t start = 0; start < rows.size(); start += chunk) {
      const std::size_t end = std::min(rows.size(), start + chunk);
      std::vector<const std::vector<std::int64_t>*> p, y;
      std::vector<double> w;
      for (std::size_t i = start; i < end; ++i) {
        p.push_back(&prompts.ids[rows[i].prompt]);
        y.push_back(rows[i].response);
        w.push_back(rows[i].weight);
        tokens += static_cast<double>(rows[i].response->size());
      }
      const Batch b = make_batch(p, y, tok->pad_id(), device);
      const at::Tensor seq = sequence_logprobs(policy, b, temperature, cfg.run.dtype);
      const at::Tensor loss = -(at::tensor(w, at::kFloat).to(device) * seq).sum() * per_prompt;
      loss.backward();
      loss_sum += loss.item<double>();
    }
    const double grad_norm =
        t.max_grad_norm > 0 ? runtime::clip_grad_norm(policy->parameters(), t.max_grad_norm) : 0.0;
    opt.step(lr);
    opt.zero_grad();
    loop.count_step();
    loop.state().tokens_seen += static_cast<std::int64_t>(tokens);
    if (!std::isfinite(loss_sum)) {
      throw Error(
          fmt::format("[offline] loss is {} at step {}; lower train.lr", loss_sum, loop.step()));
    }
    MetricValues values = {{"train/loss", loss_sum},
                           {"train/lr", lr},
                           {"train/grad_norm", grad_norm},
                           {"train/sequences", static_cast<double>(rows.size())},
                           {"perf/tokens_per_s", tokens / std::max(1e-9, step_timer.seconds())}};
    const bool evaluate = loop.due(t.eval_every_steps);
    if (evaluate) check(values);
    std::vector<std::pair<std::string, std::string>> fields = {
        {"loss", fmt::format("{:.3f}", loss_sum)}};
    for (const auto& [key, value] : values) {
      if (key == "check/kl") fields.push_back({"kl", fmt::format("{:.3f}", value)});
      if (key == "check/calibrated_u") fields.push_back({"u", fmt::format("{:.3f}", value)});
    }
    progress.update(loop.step(), fields);
    loop.end_step(values, evaluate);
  }
  progress.finish();

  OfflineResult result;
  result.steps = loop.step();
  result.policy_dir = cfg.run.run_dir + "/final";
  model::save_causal_lm(policy, result.policy_dir, cfg.tokenizer.path);
  log::info("[offline] done: {} steps; policy exported to {} (Hugging Face layout)", result.steps,
            result.policy_dir);
  return result;
}

}  // namespace infalign::ppo
