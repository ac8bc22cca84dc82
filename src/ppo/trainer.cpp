#include "infalign/ppo/trainer.h"

#include <cmath>
#include <optional>

#include <fmt/format.h>

#include <ATen/ATen.h>

#include "infalign/calibration/builder.h"
#include "infalign/calibration/calibrate.h"
#include "infalign/calibration/u_kl.h"
#include "infalign/checkpoint/resume.h"
#include "infalign/config/names.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/core/logging.h"
#include "infalign/core/memory.h"
#include "infalign/core/metrics.h"
#include "infalign/core/progress.h"
#include "infalign/core/timer.h"
#include "infalign/data/cursor.h"
#include "infalign/generation/generate.h"
#include "infalign/loop/training_loop.h"
#include "infalign/model/fused_ops.h"
#include "infalign/model/hf_io.h"
#include "infalign/ppo/core.h"
#include "infalign/reward/scorer.h"
#include "infalign/runtime/adamw.h"
#include "infalign/runtime/device.h"
#include "infalign/runtime/distributed.h"
#include "infalign/runtime/rng.h"
#include "infalign/runtime/schedule.h"
#include "infalign/theory/calibrated.h"
#include "infalign/tokenizer/load.h"
#include "infalign/tokenizer/sentencepiece_tokenizer.h"

namespace infalign::ppo {

namespace {

// One rollout batch, everything on the device; [B, R] unless noted.
struct Rollout {
  at::Tensor input_ids, attention_mask, position_ids;  // [B, P + R]
  std::int64_t prompt_length = 0;
  at::Tensor response_ids, mask;  // mask: 1 up to and including EOS
  at::Tensor old_logp, ref_logp, old_values;
  at::Tensor advantages, returns;
  // kl_estimator full: the reference's log_softmax(logits / T) [B, R, V] of this rank's rows and
  // the exact per-token KL of the rollout policy [B, R].
  at::Tensor ref_logsoftmax, kl_full;
};

// Everything one iteration computes, phase by phase.
struct Iteration {
  // rollout
  std::vector<std::int64_t> rows_prompt;  // [B] prompt index of each row
  generation::GenerationResult gen;
  Rollout r;
  at::Tensor maskf;  // [B, R] float mask
  // score
  at::Tensor raw_reward, u, score;  // [B] float64 (u: calibrated transforms only)
  // reference
  double sampler_dev = 0;
  // advantages
  double beta = 0;
  at::Tensor kl1, kl3, kl;  // [B, R] per-token KL: k1, k3, and the one in the reward
  Advantages adv;
  // update
  bool train_policy = true;
  double policy_lr = 0, value_lr = 0;
  double pg_sum = 0, vf_sum = 0, clip_sum = 0, vclip_sum = 0, akl_sum = 0, ratio_sum = 0,
         ratio_var_sum = 0, pgn_sum = 0, vgn_sum = 0, ent_sum = 0, first_ratio_dev = 0;
  int updates = 0;
  // timings, seconds
  double t_generate = 0, t_score = 0, t_reference = 0, t_update = 0;
};

// The logits [rows, R, V] float32 that predict the response tokens of rows `rows` of the
// rollout, through the training forward.
at::Tensor rollout_logits(model::CausalLm& lm, const Rollout& r, const at::Tensor& rows,
                          config::DType dtype) {
  return generation::response_logits(
      lm, r.input_ids.index_select(0, rows), r.attention_mask.index_select(0, rows),
      r.position_ids.index_select(0, rows), r.prompt_length, r.response_ids.size(1), dtype);
}

// Statistics of the response tokens' distributions (at the rollout temperature) for rows `rows`
// of the rollout: log-probs of the sampled tokens [rows, R] and the entropy, float32, and with
// the reference's log-softmax [rows, R, V] the exact KL (one fused pass over the logits:
// model::fused::softmax_stats).
model::fused::SoftmaxStats response_stats(model::CausalLm& lm, const Rollout& r,
                                          const at::Tensor& rows, double temperature,
                                          config::DType dtype,
                                          const at::Tensor& ref_logsoftmax = at::Tensor()) {
  return model::fused::softmax_stats(rollout_logits(lm, r, rows, dtype),
                                     r.response_ids.index_select(0, rows), temperature,
                                     ref_logsoftmax);
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

// Stage ppo: the models, the reward and the phases of one iteration. With W ranks, each samples,
// scores and runs the no-gradient forwards of its B / W rows [lo, lo + local_b); the per-row
// results are gathered so every rank holds the whole batch.
class PpoRun {
 public:
  PpoRun(const config::LoadedConfig& loaded, runtime::Distributed& d)
      : cfg_(loaded.config),
        p_(cfg_.ppo),
        d_(d),
        device_(runtime::resolve_device(cfg_.run.device)),
        tok_(tokenizer::load_configured_tokenizer(loaded)),
        prompts_(calibration::load_prompt_set(cfg_, *tok_)),
        raw_(cfg_.transform.kind == config::TransformKind::Raw),
        critic_(p_.advantage == config::Advantage::Gae),
        full_kl_(p_.kl_estimator == config::KlEstimator::Full),
        local_b_(p_.rollout_batch_size / d.world_size()),
        lo_(d.rank() * local_b_) {
    // 1. Calibration (built first when missing or stale, its chunks shared among the ranks)
    // and the transform.
    if (!raw_) {
      cache_ = calibration::ensure_cache(loaded, nullptr, &d);
      phi_ = calibration::make_transform(cfg_.transform, cfg_.calibration.num_samples);
      cache_hash_ = fs::sha256_file(calibration::cache_path(cfg_));
      log::info("[ppo] reward: calibrated against K = {} base samples, transformed by {}",
                cache_->header().num_samples, phi_->describe());
    } else {
      log::info("[ppo] reward: the raw reward-model score (standard RLHF, no calibration)");
    }
    initial_beta_ = p_.kl_coef;
    if (p_.kl_coef_from_theory) {
      // Validation guarantees a calibrated transform and a target KL.
      initial_beta_ = theory::solve_beta(theory::PhiGrid(*phi_), *p_.target_kl);
      log::info("[ppo] kl_coef from the theory tool: beta {:.6g} puts the optimum of {} at KL {}",
                initial_beta_, phi_->describe(), *p_.target_kl);
    }

    // 2. Models: policy (trained), frozen reference, reward scorer, value model (trained; gae
    // only: rloo and group need none).
    const model::LoadOptions load{device_, at::kFloat};
    policy_ = model::load_causal_lm(cfg_.model.init_from, load);
    lora_ = cfg_.lora.rank > 0;
    if (lora_) {
      // LoRA: the base frozen, adapters trained; the reference is the policy with the adapters
      // off (no second copy of the weights).
      for (auto& t : (*policy_)->parameters()) t.set_requires_grad(false);
      at::Generator gen =
          at::detail::createCPUGenerator(runtime::RngSet::derive_seed(cfg_.run.seed, "lora_init"));
      (*policy_)->backbone()->add_lora({cfg_.lora.rank, cfg_.lora.alpha, cfg_.lora.targets}, gen);
      std::int64_t trained = 0, total = 0;
      for (const auto& t : (*policy_)->parameters()) {
        total += t.numel();
        if (t.requires_grad()) trained += t.numel();
      }
      log::info(
          "[ppo] LoRA rank {} (alpha {}) on {}: {} adapter parameters train ({:.2f}% of "
          "{}); the reference is the base with the adapters off",
          cfg_.lora.rank, cfg_.lora.alpha, fmt::join(cfg_.lora.targets, ", "), trained,
          100.0 * static_cast<double>(trained) / static_cast<double>(total), total);
    } else {
      const c10::ScalarType frozen =
          cfg_.run.frozen_dtype == config::DType::BFloat16 ? at::kBFloat16 : at::kFloat;
      reference_ = model::load_causal_lm(cfg_.model.init_from, {device_, frozen});
      (*reference_)->eval();
      for (auto& t : (*reference_)->parameters()) t.set_requires_grad(false);
    }
    scorer_ = reward::make_scorer(cfg_, *tok_, device_);
    const bool value_from_rm = p_.value_init == config::ValueInit::RewardModel &&
                               cfg_.reward.kind == config::RewardKind::Model;
    if (critic_) {
      value_ = value_from_rm ? model::load_scalar_model(cfg_.reward.model_path, load)
                             : model::load_scalar_model(cfg_.model.init_from, load,
                                                        /*allow_fresh_head=*/true);
      if (!value_from_rm) {
        at::NoGradGuard no_grad;
        (*value_)->named_parameters()["score.weight"].zero_();
      }
    }
    (*policy_)->backbone()->set_gradient_checkpointing(cfg_.train.gradient_checkpointing);
    if (value_)
      (*value_)->backbone()->set_gradient_checkpointing(cfg_.train.gradient_checkpointing);
    log::info("[ppo] policy and frozen reference ({}{}) from {}; {}",
              lora_ ? std::string("the policy with its adapters off")
                    : std::string(config::enum_name(cfg_.run.frozen_dtype)),
              cfg_.train.gradient_checkpointing ? ", checkpointed blocks" : "",
              cfg_.model.init_from,
              !critic_ ? fmt::format("no value model ({} advantages over {} samples per prompt)",
                                     config::enum_name(p_.advantage), p_.samples_per_prompt)
              : value_from_rm ? "value model from " + cfg_.reward.model_path
                              : "value model from " + cfg_.model.init_from + " (fresh head)");
    const runtime::AdamWOptions adam{0.9, 0.999, p_.adam_eps, p_.weight_decay};
    // The optimizer holds what trains: every policy weight, or with LoRA the adapters only.
    std::vector<std::pair<std::string, at::Tensor>> trained;
    for (auto& [name, t] : checkpoint::named_parameters(**policy_)) {
      if (t.requires_grad()) trained.emplace_back(name, t);
    }
    policy_opt_.emplace(std::move(trained), adam);
    if (critic_) value_opt_.emplace(checkpoint::named_parameters(**value_), adam);
    hashes_ = {{"reference", reward::model_content_hash(cfg_.model.init_from)},
               {"reward", scorer_->content_hash()},
               {"calibration", cache_hash_}};
    // Validation keeps top-k and top-p off for PPO: the rollouts must come from the policy.
    g_ = generation::options_from_config(cfg_.generation, tok_->eos_id(), tok_->pad_id());
    sampler_.emplace(*policy_, cfg_.generation.dtype);
  }

  // What every checkpoint holds besides the state: the policy and, with gae, the value model.
  std::vector<checkpoint::TrainedPart> parts() {
    std::vector<checkpoint::TrainedPart> out = {{"policy", **policy_, *policy_opt_}};
    if (critic_) out.push_back({"value", **value_, *value_opt_});
    return out;
  }
  std::int64_t prompts() const { return static_cast<std::int64_t>(prompts_.ids.size()); }
  const std::map<std::string, std::string>& input_hashes() const { return hashes_; }
  double initial_beta() const { return initial_beta_; }
  model::CausalLm& policy() { return *policy_; }

  // --- Rollout: B prompts from the cursor (k samples of each; every rank walks the same
  // cursor), responses from the current policy for this rank's rows, each seeded by
  // (iteration, row).
  void rollout(Iteration& it, loop::TrainingLoop& loop) {
    Timer phase;
    const std::int64_t B = p_.rollout_batch_size;
    std::vector<std::vector<std::int64_t>> batch_prompts, local_prompts;
    g_.row_seeds.clear();
    std::int64_t idx = 0;
    for (std::int64_t b = 0; b < B; ++b) {
      if (b % p_.samples_per_prompt == 0) idx = loop.next_example();
      it.rows_prompt.push_back(idx);
      batch_prompts.push_back(prompts_.ids[static_cast<std::size_t>(idx)]);
      if (b >= lo_ && b < lo_ + local_b_) {
        local_prompts.push_back(batch_prompts.back());
        g_.row_seeds.push_back(runtime::RngSet::derive_seed(
            cfg_.run.seed, fmt::format("rollout:{}:{}", loop.step(), b)));
      }
    }
    auto [prompt_ids, prompt_mask] = generation::left_pad(batch_prompts, tok_->pad_id(), device_);
    // Every rank pads its prompts to the whole batch's longest, as one process would.
    g_.min_prompt_length = prompt_ids.size(1);
    (*policy_)->eval();
    sampler_->sync();  // the sampler's copy (generation.dtype bfloat16) follows the policy
    generation::GenerationResult gen =
        generation::generate(sampler_->get(), local_prompts, g_, at::Generator());
    (*policy_)->train();
    if (d_.active()) {
      // Responses of all rows, padded to the longest rank's response length.
      at::Tensor steps = at::full({1}, static_cast<double>(gen.response_ids.size(1)), at::kDouble);
      d_.all_reduce_max(steps);
      const auto R = static_cast<std::int64_t>(steps.item<double>());
      const std::int64_t extra = R - gen.response_ids.size(1);
      auto pad_right = [&](const at::Tensor& t, double value) {
        return extra == 0 ? t : at::constant_pad_nd(t, {0, extra}, value);
      };
      gen.response_ids = gather(pad_right(gen.response_ids, static_cast<double>(tok_->pad_id())));
      gen.response_mask = gather(pad_right(gen.response_mask, 0));
      gen.logprobs = gather(pad_right(gen.logprobs, 0));
      gen.ended_with_eos = gather(gen.ended_with_eos.to(at::kLong)).to(at::kBool);
      gen.response_lengths = gen.response_mask.sum(1);
      gen.generated_tokens = gen.response_lengths.sum().item<std::int64_t>();
    }
    gen.prompt_ids = prompt_ids;
    gen.prompt_mask = prompt_mask;
    Rollout& r = it.r;
    r.prompt_length = gen.prompt_ids.size(1);
    r.response_ids = gen.response_ids;
    r.mask = gen.response_mask;
    r.input_ids = at::cat({gen.prompt_ids, gen.response_ids}, 1);
    r.attention_mask = at::cat({gen.prompt_mask, gen.response_mask}, 1);
    r.position_ids = model::position_ids_from_mask(r.attention_mask);
    it.maskf = r.mask.to(at::kFloat);
    it.gen = std::move(gen);
    it.t_generate = phase.seconds();
  }

  // --- Score: the reward (model or gold) of this rank's rows' truncated text, gathered; then u
  // and Phi(u) for the whole batch, minus the missing-EOS penalty.
  void score(Iteration& it) {
    Timer phase;
    std::vector<const std::vector<std::int64_t>*> prompt_ptrs;
    std::vector<std::uint64_t> keys;
    std::vector<std::string> texts;
    for (const std::int64_t idx : it.rows_prompt) {
      const auto i = static_cast<std::size_t>(idx);
      prompt_ptrs.push_back(&prompts_.ids[i]);
      keys.push_back(prompts_.keys[i]);
      texts.push_back(prompts_.texts[i]);
    }
    const std::vector<reward::ScoredText> all_items =
        reward::scored_texts(prompt_ptrs, it.gen, *tok_, scorer_->needs_text());
    const std::vector<reward::ScoredText> items(all_items.begin() + lo_,
                                                all_items.begin() + lo_ + local_b_);
    it.raw_reward = gather(at::tensor(scorer_->score(items), at::kDouble));
    if (raw_) {
      it.score = it.raw_reward.clone();
    } else {
      it.u = calibration::calibrate_rewards(*cache_, keys, it.raw_reward, cfg_.calibration.plus_one,
                                            texts, calibration::cache_path(cfg_));
      it.score = calibration::apply_transform(*phi_, it.u);
    }
    const at::Tensor no_eos = it.gen.ended_with_eos.cpu().logical_not();
    if (p_.missing_eos_penalty != 0) {
      it.score = it.score - p_.missing_eos_penalty * no_eos.to(at::kDouble);
    }
    it.t_score = phase.seconds();
  }

  // --- Reference: old log-probs, reference log-probs (and values) of this rank's rows through
  // the training forward, without gradients; then gathered (the reference's log-softmax of the
  // full estimator stays local).
  void reference(Iteration& it) {
    Timer phase;
    Rollout& r = it.r;
    const double temperature = cfg_.generation.temperature;
    {
      at::NoGradGuard no_grad;
      std::vector<at::Tensor> old_lp, ref_lp, vals, ref_lsm, kl_full;
      for (std::int64_t s = 0; s < local_b_; s += micro()) {
        const at::Tensor rows = at::arange(lo_ + s, lo_ + std::min(local_b_, s + micro()),
                                           at::TensorOptions(at::kLong).device(device_));
        {
          // With LoRA the reference is the policy with its adapters off.
          model::LlamaModel backbone = lora_ ? (*policy_)->backbone() : model::LlamaModel(nullptr);
          if (lora_) backbone->set_adapters_enabled(false);
          model::CausalLm& ref_model = lora_ ? *policy_ : *reference_;
          if (full_kl_) {
            // The whole log-softmax is kept for the KL; the sampled tokens' log-probs are in it.
            ref_lsm.push_back(model::fused::log_softmax(
                rollout_logits(ref_model, r, rows, cfg_.run.dtype), temperature));
            ref_lp.push_back(ref_lsm.back()
                                 .gather(-1, r.response_ids.index_select(0, rows).unsqueeze(-1))
                                 .squeeze(-1));
          } else {
            ref_lp.push_back(response_stats(ref_model, r, rows, temperature, cfg_.run.dtype).logp);
          }
          if (lora_) backbone->set_adapters_enabled(true);
        }
        const model::fused::SoftmaxStats policy =
            response_stats(*policy_, r, rows, temperature, cfg_.run.dtype,
                           full_kl_ ? ref_lsm.back() : at::Tensor());
        old_lp.push_back(policy.logp);
        if (full_kl_) kl_full.push_back(policy.kl);
        if (critic_) vals.push_back(state_values(*value_, r, rows, cfg_.run.dtype));
      }
      r.old_logp = gather(at::cat(old_lp)) * it.maskf;
      r.ref_logp = gather(at::cat(ref_lp)) * it.maskf;
      if (critic_) r.old_values = gather(at::cat(vals)) * it.maskf;
      if (full_kl_) {
        r.ref_logsoftmax = at::cat(ref_lsm);  // this rank's rows only: row b is at b - lo
        r.kl_full = gather(at::cat(kl_full)) * it.maskf;
      }
    }
    // The sampler's log-probs (KV-cache path) against the training forward's: a large gap means
    // the rollout and the update see different distributions (docs/method.md section 7, items 4 and
    // 6).
    it.sampler_dev =
        ((it.gen.logprobs.to(at::kFloat) - r.old_logp).abs() * it.maskf).max().item<double>();
    it.t_reference = phase.seconds();
  }

  // --- Advantages: the KL penalty in the reward, then gae / rloo / group (compute_advantages).
  void advantages(Iteration& it, double beta) {
    Rollout& r = it.r;
    it.beta = beta;
    it.kl1 = kl_estimate(r.old_logp, r.ref_logp, r.mask, config::KlEstimator::K1);
    it.kl3 = kl_estimate(r.old_logp, r.ref_logp, r.mask, config::KlEstimator::K3);
    it.kl = p_.kl_estimator == config::KlEstimator::K1   ? it.kl1
            : p_.kl_estimator == config::KlEstimator::K3 ? it.kl3
                                                         : r.kl_full;
    AdvantageOptions o;
    o.kind = p_.advantage;
    o.samples_per_prompt = p_.samples_per_prompt;
    o.beta = beta;
    o.gamma = p_.gamma;
    o.lam = p_.lam;
    o.whiten_rewards = p_.whiten_rewards;
    o.whiten_advantages = p_.whiten_advantages;
    it.adv =
        compute_advantages({it.kl, it.score.to(at::kFloat).to(device_), r.mask, r.old_values}, o);
    r.returns = it.adv.returns;
    r.advantages = it.adv.advantages;
  }

  // --- Update: ppo_epochs x num_mini_batches, a fresh seeded permutation per epoch. A
  // minibatch's losses are token means over the whole minibatch, accumulated over micro-batches;
  // each rank backpropagates its rows of the minibatch and the gradients are summed.
  void update(Iteration& it, std::int64_t step) {
    Timer phase;
    Rollout& r = it.r;
    const double temperature = cfg_.generation.temperature;
    const std::int64_t B = p_.rollout_batch_size;
    const std::int64_t mini = B / p_.num_mini_batches;
    it.train_policy = step >= p_.critic_warmup_steps;
    it.policy_lr = runtime::learning_rate(step, p_.total_steps, p_.warmup_steps, p_.policy_lr,
                                          p_.lr_schedule, 0.0);
    it.value_lr = runtime::learning_rate(step, p_.total_steps, p_.warmup_steps, p_.value_lr,
                                         p_.lr_schedule, 0.0);
    // The direct KL term of the full estimator, scaled like the surrogate (compute_advantages).
    const double kl_loss_coef = full_kl_ ? it.adv.kl_loss_coef : 0.0;
    const std::uint64_t perm_seed =
        runtime::RngSet::derive_seed(cfg_.run.seed, fmt::format("minibatch:{}", step));
    for (std::int64_t epoch = 0; epoch < p_.ppo_epochs; ++epoch) {
      const std::vector<std::int64_t> perm = data::epoch_order(B, perm_seed, epoch, true);
      for (std::int64_t mb = 0; mb < p_.num_mini_batches; ++mb) {
        const at::Tensor mb_rows =
            at::tensor(
                std::vector<std::int64_t>(perm.begin() + mb * mini, perm.begin() + (mb + 1) * mini),
                at::kLong)
                .to(device_);
        const double mb_tokens = it.maskf.index_select(0, mb_rows).sum().item<double>();
        // This rank's rows of the minibatch (any number, also none); the token weights are
        // shares of the whole minibatch, so the gradients summed over ranks are its gradient.
        const at::Tensor mine =
            mb_rows.masked_select((mb_rows >= lo_) & (mb_rows < lo_ + local_b_));
        const std::int64_t n_mine = mine.size(0);
        for (std::int64_t s = 0; s < n_mine; s += micro()) {
          const at::Tensor rows = mine.narrow(0, s, std::min(micro(), n_mine - s));
          const at::Tensor mask = r.mask.index_select(0, rows);
          const double weight = it.maskf.index_select(0, rows).sum().item<double>() / mb_tokens;
          if (it.train_policy) {
            const model::fused::SoftmaxStats st = response_stats(
                *policy_, r, rows, temperature, cfg_.run.dtype,
                full_kl_ ? r.ref_logsoftmax.index_select(0, rows - lo_) : at::Tensor());
            const at::Tensor& logp = st.logp;
            const at::Tensor entropy = p_.entropy_coef != 0 ? st.entropy : st.entropy.detach();
            const PolicyLoss pl =
                policy_loss(logp, r.old_logp.index_select(0, rows),
                            r.advantages.index_select(0, rows), mask, p_.clip_range, p_.dual_clip);
            at::Tensor loss = pl.loss;
            if (p_.entropy_coef != 0) loss = loss - p_.entropy_coef * masked_mean(entropy, mask);
            // The direct gradient of beta * KL at each visited state (the advantages carry
            // only its effect on later states): token mean, like the surrogate.
            if (full_kl_) loss = loss + kl_loss_coef * masked_mean(st.kl, mask);
            (loss * weight).backward();
            it.pg_sum += pl.loss.item<double>() * weight;
            it.clip_sum += pl.clipfrac * weight;
            it.akl_sum += pl.approxkl * weight;
            it.ratio_sum += pl.ratio_mean * weight;
            it.ratio_var_sum += pl.ratio_var * weight;
            it.ent_sum += masked_mean(entropy, mask).item<double>() * weight;
            if (epoch == 0 && mb == 0) {
              at::NoGradGuard no_grad;
              const at::Tensor dev =
                  ((logp - r.old_logp.index_select(0, rows)).exp() - 1).abs() * mask.to(at::kFloat);
              it.first_ratio_dev = std::max(it.first_ratio_dev, dev.max().item<double>());
            }
          }
          if (critic_) {
            const at::Tensor v = state_values(*value_, r, rows, cfg_.run.dtype);
            const ValueLoss vl =
                value_loss(v, r.old_values.index_select(0, rows), r.returns.index_select(0, rows),
                           mask, p_.clip_range_value);
            // Parity mode (TRL, N+): L = L_pg + vf_coef L_vf under one optimizer.
            (vl.loss * (p_.joint_optimizer ? p_.vf_coef : 1.0) * weight).backward();
            it.vf_sum += vl.loss.item<double>() * weight;
            it.vclip_sum += vl.clipfrac * weight;
          }
        }
        apply_gradients(it);
        ++it.updates;
      }
    }
    if (d_.active()) {
      // The loss statistics are token-weighted shares of each minibatch: their sums over ranks
      // are the single-process values.
      std::vector<at::Tensor> sums{
          at::tensor(std::vector<double>{it.pg_sum, it.vf_sum, it.clip_sum, it.vclip_sum,
                                         it.akl_sum, it.ratio_sum, it.ratio_var_sum, it.ent_sum},
                     at::kDouble)};
      d_.all_reduce_sum(sums);
      const auto* v = sums[0].data_ptr<double>();
      it.pg_sum = v[0], it.vf_sum = v[1], it.clip_sum = v[2], it.vclip_sum = v[3];
      it.akl_sum = v[4], it.ratio_sum = v[5], it.ratio_var_sum = v[6], it.ent_sum = v[7];
      at::Tensor dev = at::full({1}, it.first_ratio_dev, at::kDouble);
      d_.all_reduce_max(dev);
      it.first_ratio_dev = dev.item<double>();
    }
    it.t_update = phase.seconds();
#ifndef NDEBUG
    INFALIGN_CHECK(!it.train_policy || it.first_ratio_dev < 1e-4,
                   "PPO ratio on the first minibatch is off 1 by {}: rollout and training "
                   "log-probs disagree",
                   it.first_ratio_dev);
#endif
  }

  // --- Log: the iteration's metrics (TRL's names where TRL has one).
  MetricValues metrics(const Iteration& it, std::int64_t step) const {
    const std::int64_t B = p_.rollout_batch_size;
    const double iteration_seconds = it.t_generate + it.t_score + it.t_reference + it.t_update;
    const double n_updates = std::max(1, it.updates);
    const double pg_updates = it.train_policy ? n_updates : 1.0;
    const at::Tensor lengths = it.gen.response_lengths.to(at::kDouble);
    const at::Tensor non_score = -it.beta * it.kl.sum(1).to(at::kDouble).cpu();
    const auto tokens = static_cast<double>(it.gen.generated_tokens);
    MetricValues m = {{"objective/raw_reward", mean_of(it.raw_reward)},
                      {"objective/raw_reward_std", std_of(it.raw_reward)},
                      {"objective/scores", mean_of(it.score)},
                      {"objective/scores_std", std_of(it.score)},
                      {"objective/kl", mean_of(it.kl1.sum(1))},
                      {"objective/kl_k3", mean_of(it.kl3.sum(1))},
                      {"objective/non_score_reward", mean_of(non_score)},
                      {"objective/rlhf_reward", mean_of(it.score + non_score)},
                      {"objective/entropy", mean_of((-it.r.old_logp).sum(1))},
                      {"kl_coef", it.beta},
                      {"loss/policy_avg", it.pg_sum / pg_updates},
                      {"policy/approxkl_avg", it.akl_sum / pg_updates},
                      {"policy/clipfrac_avg", it.clip_sum / pg_updates},
                      {"policy/entropy_avg", it.ent_sum / pg_updates},
                      {"policy/grad_norm", it.pgn_sum / pg_updates},
                      {"policy/first_ratio_max_dev", it.first_ratio_dev},
                      {"policy/sampler_logprob_max_dev", it.sampler_dev},
                      {"val/ratio", it.ratio_sum / pg_updates},
                      {"val/ratio_var", it.ratio_var_sum / pg_updates},
                      {"gen/response_length_mean", mean_of(lengths)},
                      {"gen/eos_rate", mean_of(it.gen.ended_with_eos.to(at::kDouble))},
                      {"episode", static_cast<double>(step * B)},
                      {"lr/policy", it.train_policy ? it.policy_lr : 0.0},
                      {"perf/tokens_per_s", tokens / std::max(1e-9, iteration_seconds)},
                      {"eps", static_cast<double>(B) / std::max(1e-9, iteration_seconds)},
                      {"timing/generate", it.t_generate},
                      {"timing/score", it.t_score},
                      {"timing/reference", it.t_reference},
                      {"timing/update", it.t_update}};
    if (!raw_) {
      m.insert(m.begin() + 2, {"objective/calibrated_u", mean_of(it.u)});
      m.insert(m.begin() + 3, {"objective/calibrated_u_std", std_of(it.u)});
      // How much of the KL moves u (docs/frontier.md): the rollout's u_kl against the cache,
      // binned coarsely for a batch this small (about +0.02 at KL 0 for B = 256).
      calibration::UKlEstimator estimator(10);
      const at::Tensor raw_reward = it.raw_reward.cpu();
      for (std::size_t b = 0; b < it.rows_prompt.size(); ++b) {
        const std::uint64_t key = prompts_.keys[static_cast<std::size_t>(it.rows_prompt[b])];
        estimator.add_prompt(*cache_->find(key),
                             {raw_reward[static_cast<std::int64_t>(b)].item<double>()});
      }
      const double u_kl = estimator.finish(0, 0.95, 0).u_kl.mean;
      const double kl = mean_of(it.kl1.sum(1));
      m.emplace_back("objective/u_kl", u_kl);
      m.emplace_back("objective/kl_efficiency", kl > 0.005 ? u_kl / kl : 0.0);
    }
    if (full_kl_) m.emplace_back("objective/kl_full", mean_of(it.r.kl_full.sum(1)));
    if (critic_) {
      m.emplace_back("lr/value", it.value_lr);
      m.emplace_back("loss/value_avg", it.vf_sum / n_updates);
      m.emplace_back("val/clipfrac_avg", it.vclip_sum / n_updates);
      m.emplace_back("val/explained_variance",
                     explained_variance(it.r.old_values, it.r.returns, it.r.mask));
      m.emplace_back("value/grad_norm", it.vgn_sum / n_updates);
    } else {
      // The spread of the sequence returns: what the per-prompt baseline works with.
      m.emplace_back("objective/returns_std", std_of(it.adv.sequence_returns));
    }
    return m;
  }

  // Writes the policy's Hugging Face export.
  void export_policy(const std::string& dir) {
    model::save_causal_lm(*policy_, dir, cfg_.tokenizer.path, at::kFloat,
                          static_cast<std::uint64_t>(cfg_.checkpoint.max_shard_bytes));
    if (lora_) {
      const std::string adapter_dir = dir + "_adapter";
      model::save_peft_adapter(*policy_, adapter_dir, cfg_.model.init_from);
      log::info("[ppo] adapters in PEFT's layout: {}", adapter_dir);
    }
  }

 private:
  std::int64_t micro() const {
    const std::int64_t mini = p_.rollout_batch_size / p_.num_mini_batches;
    return p_.micro_batch_size > 0 ? std::min(p_.micro_batch_size, mini) : mini;
  }
  // Per-row tensors of this rank's rows -> the whole batch, in row order, on every rank.
  at::Tensor gather(const at::Tensor& local) {
    return d_.all_gather_cat(local);  // the process group moves tensors where it needs them
  }
  // One optimizer step of each trained model from the minibatch's summed gradients.
  void apply_gradients(Iteration& it) {
    auto clip = [&](const std::vector<at::Tensor>& params) {
      return p_.max_grad_norm > 0 ? runtime::clip_grad_norm(params, p_.max_grad_norm) : 0.0;
    };
    if (it.train_policy) d_.sum_gradients((*policy_)->parameters());
    if (critic_) d_.sum_gradients((*value_)->parameters());
    if (critic_ && p_.joint_optimizer) {
      // One optimizer over both models: one gradient-norm clip and one learning rate.
      std::vector<at::Tensor> all = (*policy_)->parameters();
      for (const auto& t : (*value_)->parameters()) all.push_back(t);
      const double norm = clip(all);
      it.pgn_sum += norm;
      it.vgn_sum += norm;
      if (it.train_policy) policy_opt_->step(it.policy_lr);
      value_opt_->step(it.policy_lr);
    } else {
      if (it.train_policy) {
        it.pgn_sum += clip((*policy_)->parameters());
        policy_opt_->step(it.policy_lr);
      }
      if (critic_) {
        it.vgn_sum += clip((*value_)->parameters());
        value_opt_->step(it.value_lr);
      }
    }
    policy_opt_->zero_grad();
    if (critic_) value_opt_->zero_grad();
  }

  const config::ExperimentConfig& cfg_;
  const config::PpoConfig& p_;
  runtime::Distributed& d_;
  c10::Device device_;
  std::unique_ptr<tokenizer::Tokenizer> tok_;
  calibration::PromptSet prompts_;
  bool raw_, critic_, full_kl_;
  std::int64_t local_b_, lo_;
  std::optional<calibration::CalibrationCache> cache_;
  std::optional<theory::Transform> phi_;
  std::string cache_hash_ = "none";
  double initial_beta_ = 0;
  std::optional<model::CausalLm> policy_, reference_;  // no reference_ with LoRA
  bool lora_ = false;
  std::optional<model::ScalarModel> value_;
  std::unique_ptr<reward::RewardScorer> scorer_;
  std::optional<runtime::AdamW> policy_opt_, value_opt_;
  std::map<std::string, std::string> hashes_;
  generation::GenerationOptions g_;
  std::optional<generation::SamplingModel> sampler_;
};

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
  fs::create_directories(cfg.run.run_dir);
  PpoRun run(loaded, d);
  release_free_memory();
  log_memory("loading the models");
  runtime::RngSet rngs(cfg.run.seed);
  loop::TrainingLoop loop(loaded, {p.total_steps, p.log_every_steps, run.prompts(), run.parts()},
                          rngs, &d);
  checkpoint::TrainState& state = loop.state();
  checkpoint::verify_input_hashes(loop.resumed_from(), state, run.input_hashes());
  KlController kl_ctl(
      state.values.count("kl_coef") ? state.values.at("kl_coef") : run.initial_beta(),
      p.adaptive_kl, p.target_kl.value_or(1.0), p.kl_horizon);
  state.values["kl_coef"] = kl_ctl.beta();  // what a checkpoint saved now must restore

  Progress progress(p.total_steps, {"ppo", "step", cfg.logging.progress_interval_seconds,
                                    std::nullopt, state.step});
  while (!loop.done()) {
    loop.check_stop();  // every rank stops at the same iteration, after saving
    Iteration it;
    run.rollout(it, loop);
    release_free_memory();
    log_memory("rollout");
    run.score(it);
    run.reference(it);
    release_free_memory();
    log_memory("reference");
    run.advantages(it, kl_ctl.beta());
    run.update(it, state.step);
    release_free_memory();
    log_memory("update");
    // Once per rollout batch: the KL controller and the counters.
    const double mean_kl = mean_of(it.kl1.sum(1));
    kl_ctl.update(mean_kl, p.rollout_batch_size);
    state.values["kl_coef"] = kl_ctl.beta();
    loop.count_step();
    state.tokens_seen += it.gen.generated_tokens;
    progress.update(state.step,
                    {{it.u.defined() ? "u" : "reward",
                      fmt::format("{:.3f}", mean_of(it.u.defined() ? it.u : it.raw_reward))},
                     {"score", fmt::format("{:.3f}", mean_of(it.score))},
                     {"kl", fmt::format("{:.3f}", mean_kl)},
                     {"beta", fmt::format("{:.3g}", kl_ctl.beta())}});
    loop.end_step(run.metrics(it, state.step));
  }
  progress.finish();

  PpoResult result;
  result.steps = state.step;
  result.policy_dir = cfg.run.run_dir + "/final";
  // The export exists when any rank returns.
  d.main_only("the final export", [&] { run.export_policy(result.policy_dir); });
  log::info("[ppo] done: {} iterations; policy exported to {} (Hugging Face layout)", state.step,
            result.policy_dir);
  return result;
}

}  // namespace infalign::ppo
