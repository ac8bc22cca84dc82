#include "infalign/ppo/trainer.h"

#include <cmath>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include <fmt/format.h>

#include <ATen/ATen.h>

#include "infalign/calibration/builder.h"
#include "infalign/calibration/calibrate.h"
#include "infalign/checkpoint/manager.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/core/logging.h"
#include "infalign/core/metrics.h"
#include "infalign/core/progress.h"
#include "infalign/core/signals.h"
#include "infalign/core/timer.h"
#include "infalign/data/cursor.h"
#include "infalign/data/text_corpus.h"
#include "infalign/generation/generate.h"
#include "infalign/model/hf_io.h"
#include "infalign/ppo/core.h"
#include "infalign/reward/scorer.h"
#include "infalign/runtime/adamw.h"
#include "infalign/runtime/device.h"
#include "infalign/runtime/distributed.h"
#include "infalign/runtime/rng.h"
#include "infalign/runtime/schedule.h"
#include "infalign/tokenizer/sentencepiece_tokenizer.h"
#include "infalign/train/checkpointing.h"

namespace infalign::ppo {

namespace {

// One rollout batch, everything on the device; [B, R] unless noted.
struct Rollout {
  at::Tensor input_ids, attention_mask, position_ids;  // [B, P + R]
  std::int64_t prompt_length = 0;
  at::Tensor response_ids, mask;  // mask: 1 up to and including EOS
  at::Tensor old_logp, ref_logp, old_values;
  at::Tensor advantages, returns;
  // kl_estimator full: the reference's log_softmax(logits / T) [B, R, V] and the exact
  // per-token KL of the rollout policy [B, R].
  at::Tensor ref_logsoftmax, kl_full;
};

// Log-probs of the response tokens (at the rollout temperature) for rows `rows` of the rollout,
// through the training forward. Returns [rows, R] float32; also the per-token entropy when asked
// (differentiable when `entropy_grad`, for the entropy bonus) and the logits [rows, R, V].
at::Tensor policy_logprobs(model::CausalLm& lm, const Rollout& r, const at::Tensor& rows,
                           double temperature, config::DType dtype, at::Tensor* entropy,
                           bool entropy_grad = false, at::Tensor* logits_out = nullptr) {
  const at::Tensor ids = r.input_ids.index_select(0, rows);
  const at::Tensor mask = r.attention_mask.index_select(0, rows);
  const at::Tensor pos = r.position_ids.index_select(0, rows);
  const at::Tensor logits = generation::response_logits(lm, ids, mask, pos, r.prompt_length,
                                                        r.response_ids.size(1), dtype);
  if (logits_out != nullptr) *logits_out = logits;
  if (entropy != nullptr) {
    std::optional<at::NoGradGuard> no_grad;
    if (!entropy_grad) no_grad.emplace();
    *entropy = token_entropy(logits, temperature);
  }
  return generation::token_logprobs(logits, r.response_ids.index_select(0, rows), temperature);
}

// Values of the states before each response token: [rows, R] float32.
at::Tensor state_values(model::ScalarModel& vm, const Rollout& r, const at::Tensor& rows,
                        config::DType dtype) {
  at::Tensor v;
  {
    const runtime::AutocastGuard autocast(r.input_ids.device(), dtype);
    v = vm->forward({r.input_ids.index_select(0, rows), r.attention_mask.index_select(0, rows),
                     r.position_ids.index_select(0, rows)});
  }
  return v.to(at::kFloat).narrow(1, r.prompt_length - 1, r.response_ids.size(1));
}

double mean_of(const at::Tensor& t) { return t.to(at::kDouble).mean().item<double>(); }
double std_of(const at::Tensor& t) {
  return t.numel() > 1 ? t.to(at::kDouble).std().item<double>() : 0.0;
}

}  // namespace

PpoResult train_ppo(const config::LoadedConfig& loaded, runtime::Distributed* dist) {
  const config::ExperimentConfig& cfg = loaded.config;
  const config::PpoConfig& p = cfg.ppo;
  const c10::Device device = runtime::resolve_device(cfg.run.device);
  runtime::Distributed single({}, device, std::chrono::seconds(1));
  runtime::Distributed& d = dist != nullptr ? *dist : single;
  if (p.rollout_batch_size % d.world_size() != 0) {
    throw ConfigError(
        {fmt::format("ppo.rollout_batch_size: got {}, expected a multiple of the {} "
                     "processes (WORLD_SIZE) that share each rollout batch",
                     p.rollout_batch_size, d.world_size())});
  }
  const std::string run_dir = cfg.run.run_dir;
  fs::create_directories(run_dir);
  auto tok = tokenizer::load_configured_tokenizer(loaded);
  const calibration::PromptSet prompts = calibration::load_prompt_set(cfg, *tok);
  const bool raw = cfg.transform.kind == config::TransformKind::Raw;

  // 1. Calibration (built first when missing or stale) and the transform.
  std::optional<calibration::CalibrationCache> cache;
  std::optional<theory::Transform> phi;
  std::string cache_hash = "none";
  if (!raw) {
    // A missing cache is built first, its chunks shared among the ranks.
    cache = calibration::ensure_cache(loaded, nullptr, &d);
    phi = calibration::make_transform(cfg.transform, cfg.calibration.num_samples);
    cache_hash = fs::sha256_file(calibration::cache_path(cfg));
    log::info("[ppo] reward: calibrated against K = {} base samples, transformed by {}",
              cache->header().num_samples, phi->describe());
  } else {
    log::info("[ppo] reward: the raw reward-model score (standard RLHF, no calibration)");
  }

  // 2. Models: policy (trained), frozen reference, reward scorer, value model (trained).
  const model::LoadOptions load{device, at::kFloat};
  model::CausalLm policy = model::load_causal_lm(cfg.model.init_from, load);
  model::CausalLm reference = model::load_causal_lm(cfg.model.init_from, load);
  reference->eval();
  for (auto& t : reference->parameters()) t.set_requires_grad(false);
  auto scorer = reward::make_scorer(cfg, *tok, device);
  const bool value_from_rm = p.value_init == config::ValueInit::RewardModel &&
                             cfg.reward.kind == config::RewardKind::Model;
  model::ScalarModel value = value_from_rm ? model::load_scalar_model(cfg.reward.model_path, load)
                                           : model::load_scalar_model(cfg.model.init_from, load,
                                                                      /*allow_fresh_head=*/true);
  if (!value_from_rm) {
    at::NoGradGuard no_grad;
    value->named_parameters()["score.weight"].zero_();
  }
  log::info("[ppo] policy and frozen reference from {}; value model from {}", cfg.model.init_from,
            value_from_rm ? cfg.reward.model_path : cfg.model.init_from + " (fresh head)");

  const runtime::AdamWOptions adam{0.9, 0.999, p.adam_eps, p.weight_decay};
  runtime::AdamW policy_opt(train::named_parameters(*policy), adam);
  runtime::AdamW value_opt(train::named_parameters(*value), adam);
  runtime::RngSet rngs(cfg.run.seed);
  checkpoint::TrainState state;
  checkpoint::CheckpointManager manager(run_dir, cfg.checkpoint.keep_last,
                                        cfg.checkpoint.keep_every);
  const std::map<std::string, std::string> hashes = {
      {"reference", reward::model_content_hash(cfg.model.init_from)},
      {"reward", scorer->content_hash()},
      {"calibration", cache_hash}};
  train::Resumable resumable{
      {{"policy", *policy, policy_opt}, {"value", *value, value_opt}}, rngs, state};
  if (const auto from = train::resume(loaded, manager, resumable)) {
    for (const auto& [name, hash] : hashes) {
      const auto it = state.hashes.find(name);
      if (it == state.hashes.end() || it->second != hash) {
        throw CheckpointError(fmt::format(
            "{}: the {} changed since this checkpoint was written (sha256 {} then, {} now); "
            "resume with the same inputs or start a new run (checkpoint.resume: never)",
            *from, name, it == state.hashes.end() ? "missing" : it->second.substr(0, 12),
            hash.substr(0, 12)));
      }
    }
  }
  state.hashes = hashes;
  state.config_hash = config::config_hash(cfg);
  KlController kl_ctl(state.values.count("kl_coef") ? state.values.at("kl_coef") : p.kl_coef,
                      p.adaptive_kl, p.target_kl.value_or(1.0), p.kl_horizon);
  std::optional<MetricsWriter> metrics;  // rank 0 writes metrics, checkpoints and the export
  if (d.is_main()) metrics.emplace(run_dir + "/metrics.jsonl", state.step);
  const auto n_prompts = static_cast<std::int64_t>(prompts.ids.size());
  std::vector<std::int64_t> order =
      data::epoch_order(n_prompts, cfg.run.seed, state.epoch, cfg.data.shuffle);
  auto next_prompt = [&]() {
    if (state.position >= n_prompts) {
      ++state.epoch;
      state.position = 0;
      order = data::epoch_order(n_prompts, cfg.run.seed, state.epoch, cfg.data.shuffle);
    }
    return order[static_cast<std::size_t>(state.position++)];
  };
  auto save_now = [&](double wall_before, const Timer& wall) {
    state.wall_seconds = wall_before + wall.seconds();
    state.values["kl_coef"] = kl_ctl.beta();
    if (d.is_main()) train::save(loaded, manager, resumable);
  };

  // Validation keeps top-k and top-p off for PPO: the rollouts must come from the policy itself.
  generation::GenerationOptions g =
      generation::options_from_config(cfg.generation, tok->eos_id(), tok->pad_id());
  generation::SamplingModel sampler(policy, cfg.generation.dtype);
  const double temperature = cfg.generation.temperature;
  const bool full_kl = p.kl_estimator == config::KlEstimator::Full;
  const std::int64_t B = p.rollout_batch_size;
  const std::int64_t mini = B / p.num_mini_batches;
  const std::int64_t micro = p.micro_batch_size > 0 ? std::min(p.micro_batch_size, mini) : mini;
  std::int64_t stop_after = -1;
  if (const char* v = std::getenv("INFALIGN_TEST_STOP_AFTER_STEP")) stop_after = std::atoll(v);

  const double wall_before = state.wall_seconds;
  Timer wall;
  Progress progress(p.total_steps, {"ppo", "step", cfg.logging.progress_interval_seconds,
                                    std::nullopt, state.step});
  // This rank's rows of every rollout batch: [lo, lo + local_b).
  const std::int64_t local_b = B / d.world_size();
  const std::int64_t lo = d.rank() * local_b;
  // Per-row tensors of this rank's rows -> the whole batch, in row order, on every rank.
  auto gather = [&](const at::Tensor& local) {
    return d.all_gather_cat(local);  // the process group moves tensors where it needs them
  };
  while (state.step < p.total_steps) {
    if (d.any(signals::stop_requested())) {  // every rank stops at the same iteration
      save_now(wall_before, wall);
      signals::throw_if_stop_requested();
      throw Interrupted(SIGTERM);  // another rank was signalled
    }
    Timer phase;
    MetricValues m;
    // --- Rollout: B prompts from the cursor (every rank walks the same cursor), responses from
    // the current policy for this rank's rows, each seeded by (iteration, row).
    std::vector<std::int64_t> rows_prompt;
    std::vector<std::vector<std::int64_t>> batch_prompts, local_prompts;
    g.row_seeds.clear();
    for (std::int64_t b = 0; b < B; ++b) {
      const std::int64_t idx = next_prompt();
      rows_prompt.push_back(idx);
      batch_prompts.push_back(prompts.ids[static_cast<std::size_t>(idx)]);
      if (b >= lo && b < lo + local_b) {
        local_prompts.push_back(batch_prompts.back());
        g.row_seeds.push_back(runtime::RngSet::derive_seed(
            cfg.run.seed, fmt::format("rollout:{}:{}", state.step, b)));
      }
    }
    auto [prompt_ids, prompt_mask] = generation::left_pad(batch_prompts, tok->pad_id(), device);
    // Every rank pads its prompts to the whole batch's longest, as one process would.
    g.min_prompt_length = prompt_ids.size(1);
    policy->eval();
    sampler.sync();  // the sampler's copy (generation.dtype bfloat16) follows the updated policy
    generation::GenerationResult gen =
        generation::generate(sampler.get(), local_prompts, g, at::Generator());
    policy->train();
    if (d.active()) {
      // Responses of all rows, padded to the longest rank's response length.
      at::Tensor steps = at::full({1}, static_cast<double>(gen.response_ids.size(1)), at::kDouble);
      d.all_reduce_max(steps);
      const auto R = static_cast<std::int64_t>(steps.item<double>());
      const std::int64_t extra = R - gen.response_ids.size(1);
      auto pad_right = [&](const at::Tensor& t, double value) {
        return extra == 0 ? t : at::constant_pad_nd(t, {0, extra}, value);
      };
      gen.response_ids = gather(pad_right(gen.response_ids, static_cast<double>(tok->pad_id())));
      gen.response_mask = gather(pad_right(gen.response_mask, 0));
      gen.logprobs = gather(pad_right(gen.logprobs, 0));
      gen.ended_with_eos = gather(gen.ended_with_eos.to(at::kLong)).to(at::kBool);
      gen.response_lengths = gen.response_mask.sum(1);
      gen.generated_tokens = gen.response_lengths.sum().item<std::int64_t>();
    }
    gen.prompt_ids = prompt_ids;
    gen.prompt_mask = prompt_mask;
    const double t_generate = phase.seconds();
    Rollout r;
    r.prompt_length = gen.prompt_ids.size(1);
    r.response_ids = gen.response_ids;
    r.mask = gen.response_mask;
    r.input_ids = at::cat({gen.prompt_ids, gen.response_ids}, 1);
    r.attention_mask = at::cat({gen.prompt_mask, gen.response_mask}, 1);
    r.position_ids = model::position_ids_from_mask(r.attention_mask);
    const at::Tensor maskf = r.mask.to(at::kFloat);

    // --- Score: reward model (or gold) on the truncated text of this rank's rows, then u and
    // Phi(u) for the whole batch.
    phase = Timer();
    std::vector<const std::vector<std::int64_t>*> prompt_ptrs;
    std::vector<std::uint64_t> keys;
    std::vector<std::string> texts;
    for (const std::int64_t idx : rows_prompt) {
      const auto i = static_cast<std::size_t>(idx);
      prompt_ptrs.push_back(&prompts.ids[i]);
      keys.push_back(prompts.keys[i]);
      texts.push_back(prompts.texts[i]);
    }
    const std::vector<reward::ScoredText> all_items =
        reward::scored_texts(prompt_ptrs, gen, *tok, scorer->needs_text());
    const std::vector<reward::ScoredText> items(all_items.begin() + lo,
                                                all_items.begin() + lo + local_b);
    const at::Tensor raw_reward = gather(at::tensor(scorer->score(items), at::kDouble));
    at::Tensor u, score;
    if (raw) {
      score = raw_reward.clone();
    } else {
      u = calibration::calibrate_rewards(*cache, keys, raw_reward, cfg.calibration.plus_one, texts,
                                         calibration::cache_path(cfg));
      score = calibration::apply_transform(*phi, u);
    }
    const at::Tensor no_eos = gen.ended_with_eos.cpu().logical_not();
    if (p.missing_eos_penalty != 0) score = score - p.missing_eos_penalty * no_eos.to(at::kDouble);
    const double t_score = phase.seconds();

    // --- Old log-probs, reference log-probs and values of this rank's rows: the training
    // forward, no gradients; then gathered (the reference's log-softmax stays local).
    phase = Timer();
    {
      at::NoGradGuard no_grad;
      std::vector<at::Tensor> old_lp, ref_lp, vals, ref_lsm, kl_full;
      for (std::int64_t s = 0; s < local_b; s += micro) {
        const at::Tensor rows = at::arange(lo + s, lo + std::min(local_b, s + micro),
                                           at::TensorOptions(at::kLong).device(device));
        at::Tensor policy_logits, ref_logits;
        old_lp.push_back(policy_logprobs(policy, r, rows, temperature, cfg.run.dtype, nullptr,
                                         false, full_kl ? &policy_logits : nullptr));
        ref_lp.push_back(policy_logprobs(reference, r, rows, temperature, cfg.run.dtype, nullptr,
                                         false, full_kl ? &ref_logits : nullptr));
        if (full_kl) {
          ref_lsm.push_back(at::log_softmax(ref_logits / temperature, -1));
          kl_full.push_back(exact_kl(policy_logits, ref_lsm.back(), temperature));
        }
        vals.push_back(state_values(value, r, rows, cfg.run.dtype));
      }
      r.old_logp = gather(at::cat(old_lp)) * maskf;
      r.ref_logp = gather(at::cat(ref_lp)) * maskf;
      r.old_values = gather(at::cat(vals)) * maskf;
      if (full_kl) {
        r.ref_logsoftmax = at::cat(ref_lsm);  // this rank's rows only: row b is at b - lo
        r.kl_full = gather(at::cat(kl_full)) * maskf;
      }
    }
    const double t_reference = phase.seconds();
    // The sampler's log-probs (KV-cache path) against the training forward's: a large gap means
    // the rollout and the update see different distributions (ppo.md mechanics 4 and 6).
    const double sampler_dev =
        ((gen.logprobs.to(at::kFloat) - r.old_logp).abs() * maskf).max().item<double>();

    // --- Rewards, GAE, whitening.
    const double beta = kl_ctl.beta();
    const at::Tensor kl1 = kl_estimate(r.old_logp, r.ref_logp, r.mask, config::KlEstimator::K1);
    const at::Tensor kl3 = kl_estimate(r.old_logp, r.ref_logp, r.mask, config::KlEstimator::K3);
    const at::Tensor kl = p.kl_estimator == config::KlEstimator::K1   ? kl1
                          : p.kl_estimator == config::KlEstimator::K3 ? kl3
                                                                      : r.kl_full;
    at::Tensor rewards = shape_rewards(kl, r.mask, score.to(at::kFloat).to(device), beta);
    if (p.whiten_rewards) rewards = masked_whiten(rewards, r.mask, /*shift_mean=*/false);
    const Gae adv = gae(rewards, r.old_values, r.mask, p.gamma, p.lam);
    r.returns = adv.returns;
    r.advantages = masked_whiten(adv.advantages, r.mask);
    // Whitening divides the surrogate's gradient by the advantages' standard deviation; the
    // direct KL term of the full estimator is scaled the same way, so beta keeps its meaning.
    const double kl_loss_coef =
        full_kl ? beta * at::rsqrt(masked_var(adv.advantages, r.mask, true) + 1e-8).item<double>()
                : 0.0;

    // --- Updates: ppo_epochs x num_mini_batches, a fresh seeded permutation per epoch. A
    // minibatch's losses are token means over the whole minibatch, accumulated over micro-batches.
    phase = Timer();
    const bool train_policy = state.step >= p.critic_warmup_steps;
    const double policy_lr = runtime::learning_rate(state.step, p.total_steps, p.warmup_steps,
                                                    p.policy_lr, p.lr_schedule, 0.0);
    const double value_lr = runtime::learning_rate(state.step, p.total_steps, p.warmup_steps,
                                                   p.value_lr, p.lr_schedule, 0.0);
    double pg_sum = 0, vf_sum = 0, clip_sum = 0, vclip_sum = 0, akl_sum = 0, ratio_sum = 0,
           ratio_var_sum = 0, pgn_sum = 0, vgn_sum = 0, ent_sum = 0, first_ratio_dev = 0;
    int updates = 0;
    const std::uint64_t perm_seed =
        runtime::RngSet::derive_seed(cfg.run.seed, fmt::format("minibatch:{}", state.step));
    for (std::int64_t epoch = 0; epoch < p.ppo_epochs; ++epoch) {
      const std::vector<std::int64_t> perm = data::epoch_order(B, perm_seed, epoch, true);
      for (std::int64_t mb = 0; mb < p.num_mini_batches; ++mb) {
        const at::Tensor mb_rows =
            at::tensor(
                std::vector<std::int64_t>(perm.begin() + mb * mini, perm.begin() + (mb + 1) * mini),
                at::kLong)
                .to(device);
        const double mb_tokens = maskf.index_select(0, mb_rows).sum().item<double>();
        // This rank's rows of the minibatch (any number, also none); the token weights are
        // shares of the whole minibatch, so the gradients summed over ranks are its gradient.
        const at::Tensor mine = mb_rows.masked_select((mb_rows >= lo) & (mb_rows < lo + local_b));
        const std::int64_t n_mine = mine.size(0);
        for (std::int64_t s = 0; s < n_mine; s += micro) {
          const at::Tensor rows = mine.narrow(0, s, std::min(micro, n_mine - s));
          const at::Tensor mask = r.mask.index_select(0, rows);
          const double weight = maskf.index_select(0, rows).sum().item<double>() / mb_tokens;
          if (train_policy) {
            at::Tensor entropy, logits;
            const at::Tensor logp =
                policy_logprobs(policy, r, rows, temperature, cfg.run.dtype, &entropy,
                                p.entropy_coef != 0, full_kl ? &logits : nullptr);
            const PolicyLoss pl =
                policy_loss(logp, r.old_logp.index_select(0, rows),
                            r.advantages.index_select(0, rows), mask, p.clip_range, p.dual_clip);
            at::Tensor loss = pl.loss;
            if (p.entropy_coef != 0) loss = loss - p.entropy_coef * masked_mean(entropy, mask);
            if (full_kl) {
              // The direct gradient of beta * KL at each visited state (the advantages carry
              // only its effect on later states): token mean, like the surrogate.
              const at::Tensor kl_now =
                  exact_kl(logits, r.ref_logsoftmax.index_select(0, rows - lo), temperature);
              loss = loss + kl_loss_coef * masked_mean(kl_now, mask);
            }
            (loss * weight).backward();
            pg_sum += pl.loss.item<double>() * weight;
            clip_sum += pl.clipfrac * weight;
            akl_sum += pl.approxkl * weight;
            ratio_sum += pl.ratio_mean * weight;
            ratio_var_sum += pl.ratio_var * weight;
            ent_sum += masked_mean(entropy, mask).item<double>() * weight;
            if (epoch == 0 && mb == 0) {
              at::NoGradGuard no_grad;
              const at::Tensor dev =
                  ((logp - r.old_logp.index_select(0, rows)).exp() - 1).abs() * mask.to(at::kFloat);
              first_ratio_dev = std::max(first_ratio_dev, dev.max().item<double>());
            }
          }
          const at::Tensor v = state_values(value, r, rows, cfg.run.dtype);
          const ValueLoss vl =
              value_loss(v, r.old_values.index_select(0, rows), r.returns.index_select(0, rows),
                         mask, p.clip_range_value);
          // Parity mode (TRL, N+): L = L_pg + vf_coef L_vf under one optimizer.
          (vl.loss * (p.joint_optimizer ? p.vf_coef : 1.0) * weight).backward();
          vf_sum += vl.loss.item<double>() * weight;
          vclip_sum += vl.clipfrac * weight;
        }
        if (train_policy) d.sum_gradients(policy->parameters());
        d.sum_gradients(value->parameters());
        if (p.joint_optimizer) {
          // One optimizer over both models: one gradient-norm clip and one learning rate.
          std::vector<at::Tensor> all = policy->parameters();
          for (const auto& t : value->parameters()) all.push_back(t);
          const double norm =
              p.max_grad_norm > 0 ? runtime::clip_grad_norm(all, p.max_grad_norm) : 0.0;
          pgn_sum += norm;
          vgn_sum += norm;
          if (train_policy) policy_opt.step(policy_lr);
          value_opt.step(policy_lr);
        } else {
          if (train_policy) {
            pgn_sum += p.max_grad_norm > 0
                           ? runtime::clip_grad_norm(policy->parameters(), p.max_grad_norm)
                           : 0.0;
            policy_opt.step(policy_lr);
          }
          vgn_sum += p.max_grad_norm > 0
                         ? runtime::clip_grad_norm(value->parameters(), p.max_grad_norm)
                         : 0.0;
          value_opt.step(value_lr);
        }
        policy_opt.zero_grad();
        value_opt.zero_grad();
        ++updates;
      }
    }
    if (d.active()) {
      // The loss statistics are token-weighted shares of each minibatch: their sums over ranks
      // are the single-process values.
      std::vector<at::Tensor> sums{
          at::tensor(std::vector<double>{pg_sum, vf_sum, clip_sum, vclip_sum, akl_sum, ratio_sum,
                                         ratio_var_sum, ent_sum},
                     at::kDouble)};
      d.all_reduce_sum(sums);
      const auto* v = sums[0].data_ptr<double>();
      pg_sum = v[0], vf_sum = v[1], clip_sum = v[2], vclip_sum = v[3], akl_sum = v[4];
      ratio_sum = v[5], ratio_var_sum = v[6], ent_sum = v[7];
      at::Tensor dev = at::full({1}, first_ratio_dev, at::kDouble);
      d.all_reduce_max(dev);
      first_ratio_dev = dev.item<double>();
    }
    const double t_update = phase.seconds();
#ifndef NDEBUG
    INFALIGN_CHECK(!train_policy || first_ratio_dev < 1e-4,
                   "PPO ratio on the first minibatch is off 1 by {}: rollout and training "
                   "log-probs disagree",
                   first_ratio_dev);
#endif

    // --- Bookkeeping: KL controller, counters, metrics, checkpoints.
    const at::Tensor seq_kl1 = kl1.sum(1), seq_kl3 = kl3.sum(1);
    const double mean_kl = mean_of(seq_kl1);
    kl_ctl.update(mean_kl, B);
    ++state.step;
    const std::int64_t tokens = gen.generated_tokens;
    state.tokens_seen += tokens;
    state.wall_seconds = wall_before + wall.seconds();
    const double iteration_seconds = t_generate + t_score + t_reference + t_update;
    const double n_updates = std::max(1, updates);
    const double pg_updates = train_policy ? n_updates : 1.0;
    const at::Tensor lengths = gen.response_lengths.to(at::kDouble);
    const at::Tensor non_score = -beta * kl.sum(1).to(at::kDouble).cpu();
    m = {{"objective/raw_reward", mean_of(raw_reward)},
         {"objective/raw_reward_std", std_of(raw_reward)},
         {"objective/scores", mean_of(score)},
         {"objective/scores_std", std_of(score)},
         {"objective/kl", mean_kl},
         {"objective/kl_k3", mean_of(seq_kl3)},
         {"objective/non_score_reward", mean_of(non_score)},
         {"objective/rlhf_reward", mean_of(score + non_score)},
         {"objective/entropy", mean_of((-r.old_logp).sum(1))},
         {"kl_coef", beta},
         {"loss/policy_avg", pg_sum / pg_updates},
         {"loss/value_avg", vf_sum / n_updates},
         {"policy/approxkl_avg", akl_sum / pg_updates},
         {"policy/clipfrac_avg", clip_sum / pg_updates},
         {"policy/entropy_avg", ent_sum / pg_updates},
         {"policy/grad_norm", pgn_sum / pg_updates},
         {"policy/first_ratio_max_dev", first_ratio_dev},
         {"policy/sampler_logprob_max_dev", sampler_dev},
         {"val/ratio", ratio_sum / pg_updates},
         {"val/ratio_var", ratio_var_sum / pg_updates},
         {"val/clipfrac_avg", vclip_sum / n_updates},
         {"val/explained_variance", explained_variance(r.old_values, r.returns, r.mask)},
         {"value/grad_norm", vgn_sum / n_updates},
         {"gen/response_length_mean", mean_of(lengths)},
         {"gen/eos_rate", mean_of(gen.ended_with_eos.to(at::kDouble))},
         {"episode", static_cast<double>(state.step * B)},
         {"lr/policy", train_policy ? policy_lr : 0.0},
         {"lr/value", value_lr},
         {"perf/tokens_per_s", static_cast<double>(tokens) / std::max(1e-9, iteration_seconds)},
         {"eps", static_cast<double>(B) / std::max(1e-9, iteration_seconds)},
         {"timing/generate", t_generate},
         {"timing/score", t_score},
         {"timing/reference", t_reference},
         {"timing/update", t_update}};
    if (full_kl) m.emplace_back("objective/kl_full", mean_of(r.kl_full.sum(1)));
    if (!raw) {
      m.insert(m.begin() + 2, {"objective/calibrated_u", mean_of(u)});
      m.insert(m.begin() + 3, {"objective/calibrated_u_std", std_of(u)});
    }
    if (state.step % p.log_every_steps == 0 || state.step == p.total_steps) {
      if (metrics) metrics->write(state.step, state.wall_seconds, m);
    }
    progress.update(state.step, {{raw ? "reward" : "u",
                                  fmt::format("{:.3f}", raw ? mean_of(raw_reward) : mean_of(u))},
                                 {"score", fmt::format("{:.3f}", mean_of(score))},
                                 {"kl", fmt::format("{:.3f}", mean_kl)},
                                 {"beta", fmt::format("{:.3g}", kl_ctl.beta())}});
    const auto every = cfg.checkpoint.every_steps;
    if ((every > 0 && state.step % every == 0) || state.step == p.total_steps) {
      save_now(wall_before, wall);
    }
    if (state.step == stop_after) std::raise(SIGTERM);
  }
  progress.finish();

  PpoResult result;
  result.steps = state.step;
  result.policy_dir = run_dir + "/final";
  if (d.is_main()) model::save_causal_lm(policy, result.policy_dir, cfg.tokenizer.path);
  d.barrier();  // the export exists when any rank returns
  log::info("[ppo] done: {} iterations; policy exported to {} (Hugging Face layout)", state.step,
            result.policy_dir);
  return result;
}

}  // namespace infalign::ppo
