#include "infalign/app/memory_plan.h"

#include <algorithm>
#include <optional>
#include <utility>

#include <fmt/format.h>

#include "infalign/config/names.h"
#include "infalign/core/error.h"

namespace infalign::app {

namespace {

constexpr double kFloat = 4, kHalf = 2;

// (in, out) features of a decoder block's projection.
std::pair<std::int64_t, std::int64_t> projection_shape(const model::LlamaConfig& c,
                                                       const std::string& name) {
  const std::int64_t H = c.hidden_size, I = c.intermediate_size, d = c.head_dim();
  const std::int64_t q = c.num_attention_heads * d, kv = c.num_key_value_heads * d;
  if (name == "q_proj") return {H, q};
  if (name == "k_proj" || name == "v_proj") return {H, kv};
  if (name == "o_proj") return {q, H};
  if (name == "down_proj") return {I, H};
  return {H, I};  // gate_proj, up_proj
}

double bytes_of(config::DType t) { return t == config::DType::BFloat16 ? kHalf : kFloat; }

// Saved for the backward, per token and decoder block, in elements (docs/memory.md): the block
// input h, the normed x, q, k and v after rotary, the attention probabilities (one row of T per
// head), the attention output, h1, y, gate_up (2I) and the SwiGLU output (I).
double grad_activation_per_token(const model::LlamaConfig& c, std::int64_t T) {
  const double H = static_cast<double>(c.hidden_size);
  const double kv = static_cast<double>(c.num_key_value_heads * c.head_dim());
  const double I = static_cast<double>(c.intermediate_size);
  return 6 * H + 2 * kv + 3 * I + static_cast<double>(c.num_attention_heads * T);
}

// The largest set of temporaries of one block's forward without gradients, per token, elements.
double nograd_activation_per_token(const model::LlamaConfig& c, std::int64_t T) {
  const double H = static_cast<double>(c.hidden_size);
  const double kv = static_cast<double>(c.num_key_value_heads * c.head_dim());
  const double I = static_cast<double>(c.intermediate_size);
  return 3 * H + 2 * kv + 3 * I + static_cast<double>(c.num_attention_heads * T);
}

// A model's parameters, and the packed weights it keeps for its matmuls (one set: the cached
// copy of no-gradient forwards, or the stacked weights a forward with gradients builds).
void add_model(std::vector<MemoryTerm>& terms, const std::string& name, const model::LlamaConfig& c,
               bool scalar, double bytes, const std::string& shrink) {
  const std::string dtype = bytes == kHalf ? "bfloat16" : "float32";
  const double n = static_cast<double>(parameter_count(c, scalar));
  terms.push_back(
      {fmt::format("{} weights ({}, {} parameters)", name, dtype,
                   n >= 1e9 ? fmt::format("{:.2f}B", n / 1e9) : fmt::format("{:.1f}M", n / 1e6)),
       static_cast<double>(parameter_count(c, scalar)) * bytes, shrink});
  terms.push_back({name + " packed q/k/v and gate/up weights",
                   static_cast<double>(packed_weight_count(c)) * bytes, shrink});
}

// Gradients and AdamW's two moments of `params` trained float32 parameters.
void add_optimizer(std::vector<MemoryTerm>& terms, const std::string& name, double params,
                   const std::string& shrink) {
  terms.push_back({name + " AdamW moments (2 x float32)", params * 2 * kFloat, shrink});
}

// Elements per token and block that LoRA's adapters add to a forward with gradients: the
// output of each targeted projection's adapter path.
double lora_activation_per_token(const model::LlamaConfig& c, const config::LoraConfig& lora) {
  double out = 0;
  for (const std::string& t : lora.targets)
    out += static_cast<double>(projection_shape(c, t).second);
  return out;
}

// One forward and backward with gradients over `rows` sequences of T tokens, with logits over
// the last `logit_positions` of each (the loss's positions).
struct GradForward {
  std::string name;
  const model::LlamaConfig* c = nullptr;
  double rows = 0;
  std::int64_t T = 0;
  double logit_positions = 0, logit_width = 0;
  // [rows, positions, width] float32 tensors the loss keeps: the logits and their gradient (2,
  // model::fused::softmax_stats computes the log-probs, entropy and KL without more); the
  // exact-KL term adds the reference's log-softmax rows (3). The ATen composition (CUDA) keeps
  // log-softmaxes and probabilities besides: up to 6.
  double logit_copies = 2;
  bool checkpointing = false;
  bool autocast = false;                     // run.dtype bfloat16
  const config::LoraConfig* lora = nullptr;  // the adapters, when the model has them
  std::string batch_option;
};

std::vector<MemoryTerm> grad_forward_terms(const GradForward& f) {
  const model::LlamaConfig& c = *f.c;
  std::vector<MemoryTerm> terms;
  const double tokens = f.rows * static_cast<double>(f.T);
  double per_token = grad_activation_per_token(c, f.T);
  if (f.lora != nullptr) per_token += lora_activation_per_token(c, *f.lora);
  if (f.autocast) {
    // Autocast saves bfloat16 copies of the matmuls' inputs (x, the attention output, y and the
    // SwiGLU output) beside the float32 tensors: half an element each.
    per_token += 0.5 * static_cast<double>(3 * c.hidden_size + c.intermediate_size);
  }
  const double per_layer = per_token * tokens * kFloat;
  const double H = static_cast<double>(c.hidden_size);
  const double L = static_cast<double>(c.num_hidden_layers);
  if (f.checkpointing) {
    terms.push_back({fmt::format("{} block inputs kept by checkpointing ({} tokens)", f.name,
                                 static_cast<std::int64_t>(tokens)),
                     L * H * tokens * kFloat, f.batch_option});
    // The recomputed block's forward holds its saved activations and, while it runs, the
    // temporaries a forward allocates besides them.
    terms.push_back({f.name + " activations and temporaries of the block being recomputed",
                     per_layer + nograd_activation_per_token(c, f.T) * tokens * kFloat,
                     f.batch_option});
  } else {
    terms.push_back({fmt::format("{} activations saved for the backward ({} tokens x {} blocks)",
                                 f.name, static_cast<std::int64_t>(tokens), c.num_hidden_layers),
                     L * per_layer, f.batch_option + ", or train.gradient_checkpointing: true"});
  }
  // The backward through one block holds about as many gradients as that block's activations.
  terms.push_back({f.name + " gradients flowing through one block", per_layer, f.batch_option});
  if (f.lora != nullptr) {
    // The frozen weights' packed set is rebuilt in the forward with gradients while the merged
    // one of the no-gradient forwards is still referenced.
    terms.push_back({f.name + " second packed set (adapters merged / unmerged)",
                     static_cast<double>(packed_weight_count(c)) * kFloat, "lora.targets"});
  }
  if (f.logit_positions > 0) {
    terms.push_back({fmt::format("{} logits, log-softmaxes and gradients ({:g} x [{}, {}, {}] "
                                 "float32)",
                                 f.name, f.logit_copies, static_cast<std::int64_t>(f.rows),
                                 static_cast<std::int64_t>(f.logit_positions),
                                 static_cast<std::int64_t>(f.logit_width)),
                     f.logit_copies * f.rows * f.logit_positions * f.logit_width * kFloat,
                     f.batch_option});
  }
  return terms;
}

double sum_of(const std::vector<MemoryTerm>& terms) {
  double sum = 0;
  for (const auto& t : terms) sum += t.bytes;
  return sum;
}

void append(std::vector<MemoryTerm>& to, const std::vector<MemoryTerm>& terms) {
  to.insert(to.end(), terms.begin(), terms.end());
}

// One no-gradient forward over `rows` sequences of T tokens: one block's temporaries at a time,
// and the logits of `logit_positions` per row (twice: the logits and a log-softmax).
void add_nograd_forward(std::vector<MemoryTerm>& terms, const std::string& name,
                        const model::LlamaConfig& c, double rows, std::int64_t T,
                        double logit_positions, double logit_width,
                        const std::string& batch_option) {
  const double tokens = rows * static_cast<double>(T);
  terms.push_back({fmt::format("{} forward temporaries ({} tokens, one block at a time)", name,
                               static_cast<std::int64_t>(tokens)),
                   nograd_activation_per_token(c, T) * tokens * kFloat, batch_option});
  if (logit_positions > 0) {
    terms.push_back({name + " logits and log-softmax",
                     2 * rows * logit_positions * logit_width * kFloat, batch_option});
  }
}

// Sampling `rows` sequences of up to P prompt + R new tokens: the KV cache, the prompt's
// forward and one step's logits.
void add_sampling(std::vector<MemoryTerm>& terms, const model::LlamaConfig& c, double rows,
                  std::int64_t P, std::int64_t R, config::DType dtype,
                  const std::string& batch_option) {
  const double T = static_cast<double>(P + R);
  terms.push_back({fmt::format("KV cache ({} rows x {} positions, {})",
                               static_cast<std::int64_t>(rows), P + R, config::enum_name(dtype)),
                   static_cast<double>(c.num_hidden_layers) * 2 * rows * T *
                       static_cast<double>(c.num_key_value_heads * c.head_dim()) * bytes_of(dtype),
                   batch_option + " or generation.max_new_tokens"});
  add_nograd_forward(terms, "prompt", c, rows, P, 1, static_cast<double>(c.vocab_size),
                     batch_option);
}

MemoryTerm runtime_term(double bytes) {
  return {"runtime: LibTorch, BLAS and the process before any model (measured)", bytes, ""};
}

MemoryPlan plan_sampling_job(const config::ExperimentConfig& cfg, const ModelShapes& s,
                             bool for_eval, double runtime);

// Stage ppo, per rank.
MemoryPlan plan_ppo(const config::ExperimentConfig& cfg, const ModelShapes& s, std::int64_t world,
                    double runtime) {
  const config::PpoConfig& p = cfg.ppo;
  const model::LlamaConfig& c = s.policy;
  const bool lora = cfg.lora.rank > 0;
  const bool critic = p.advantage == config::Advantage::Gae;
  const double frozen = bytes_of(cfg.run.frozen_dtype);
  const double B = static_cast<double>(p.rollout_batch_size / std::max<std::int64_t>(1, world));
  const std::int64_t mini = p.rollout_batch_size / std::max<std::int64_t>(1, p.num_mini_batches);
  const double micro =
      static_cast<double>(p.micro_batch_size > 0 ? std::min(p.micro_batch_size, mini) : mini);
  const std::int64_t P = cfg.data.max_prompt_tokens + 1;  // + BOS
  const std::int64_t R = cfg.generation.max_new_tokens;
  const double V = static_cast<double>(c.vocab_size);

  std::vector<MemoryTerm> resident{runtime_term(runtime)};
  add_model(resident, lora ? "policy (frozen base)" : "policy", c, false, kFloat,
            lora ? "" : "lora.rank (a frozen base and small adapters)");
  const double adapters = lora ? static_cast<double>(lora_parameter_count(c, cfg.lora)) : 0;
  const double trained = lora ? adapters : static_cast<double>(parameter_count(c));
  if (lora) resident.push_back({"LoRA adapters (float32)", adapters * kFloat, "lora.rank"});
  add_optimizer(resident, "policy", trained, lora ? "lora.rank" : "lora.rank (adapters only)");
  if (cfg.generation.dtype != config::DType::Float32) {
    add_model(resident, "sampler copy", c, false, bytes_of(cfg.generation.dtype),
              "generation.dtype: float32 (samples from the policy itself)");
  }
  if (!lora) {
    add_model(resident, "reference", c, false, frozen,
              frozen == kFloat ? "run.frozen_dtype: bfloat16, or lora.rank (the reference is the "
                                 "base with the adapters off)"
                               : "lora.rank (the reference is the base with the adapters off)");
  }
  if (cfg.reward.kind == config::RewardKind::Model && s.reward) {
    add_model(resident, "reward model", *s.reward, true, frozen,
              frozen == kFloat ? "run.frozen_dtype: bfloat16" : "");
  }
  double value_params = 0;
  if (critic && s.value) {
    value_params = static_cast<double>(parameter_count(*s.value, true));
    add_model(resident, "value model", *s.value, true, kFloat,
              "ppo.advantage: rloo or group (no value model)");
    add_optimizer(resident, "value model", value_params,
                  "ppo.advantage: rloo or group (no value model)");
  }
  const bool full_kl = p.kl_estimator == config::KlEstimator::Full;
  if (full_kl) {
    resident.push_back({fmt::format("exact-KL buffer: the reference's log-softmax ({} rows x {} "
                                    "tokens x {} vocabulary, float32)",
                                    static_cast<std::int64_t>(B), R, c.vocab_size),
                        B * static_cast<double>(R) * V * kFloat,
                        "ppo.kl_estimator: k1 or k3, or ppo.rollout_batch_size"});
  }

  MemoryPlan plan;
  plan.job = "stage ppo";
  if (cfg.transform.kind != config::TransformKind::Raw) {
    // The calibration cache, when it must be built first: base samples, before the policy loads.
    MemoryPhase calibration = plan_sampling_job(cfg, s, false, runtime).phases.front();
    calibration.name = "calibration (when the cache is built first)";
    plan.phases.push_back(std::move(calibration));
  }
  const std::string batch = "ppo.rollout_batch_size";
  const std::string micro_option = "ppo.micro_batch_size";
  {
    MemoryPhase rollout{"rollout (sampling)", resident};
    add_sampling(rollout.terms, c, B, P, R, cfg.generation.dtype, batch);
    plan.phases.push_back(std::move(rollout));
  }
  {
    MemoryPhase reference{"reference and old log-probs", resident};
    add_nograd_forward(reference.terms, "scoring", c, micro, P + R, static_cast<double>(R), V,
                       micro_option);
    if (full_kl) {
      // The reference's logits and log-softmax beside the policy's logits (the fused KL needs
      // no more; the scoring term above counts two of the three).
      reference.terms.push_back({"exact-KL logits (1 x [rows, R, V] float32)",
                                 micro * static_cast<double>(R) * V * kFloat, micro_option});
    }
    plan.phases.push_back(std::move(reference));
  }
  {
    MemoryPhase update{"update", resident};
    update.terms.push_back({"policy gradients (float32)", trained * kFloat,
                            lora ? "lora.rank" : "lora.rank (gradients of the adapters only)"});
    // The policy's forward and backward, then the value model's: their activations are not
    // alive together, so the larger counts.
    const bool autocast = cfg.run.dtype == config::DType::BFloat16;
    std::vector<MemoryTerm> acts = grad_forward_terms(
        {"policy", &c, micro, P + R, static_cast<double>(R), V, full_kl ? 3.0 : 2.0,
         cfg.train.gradient_checkpointing, autocast, lora ? &cfg.lora : nullptr, micro_option});
    if (critic && s.value) {
      update.terms.push_back({"value model gradients (float32)", value_params * kFloat,
                              "ppo.advantage: rloo or group (no value model)"});
      std::vector<MemoryTerm> value_acts =
          grad_forward_terms({"value model", &*s.value, micro, P + R, 0, 0, 0,
                              cfg.train.gradient_checkpointing, autocast, nullptr, micro_option});
      if (sum_of(value_acts) > sum_of(acts)) acts = std::move(value_acts);
    }
    append(update.terms, acts);
    plan.phases.push_back(std::move(update));
  }
  if (lora) {
    // The Hugging Face export merges every targeted weight into a copy before writing.
    MemoryPhase export_phase{"export", resident};
    double merged = 0;
    for (const std::string& t : cfg.lora.targets) {
      const auto [in, out] = projection_shape(c, t);
      merged += static_cast<double>(c.num_hidden_layers * in * out);
    }
    export_phase.terms.push_back(
        {"merged copies of the targeted weights (export)", merged * kFloat, "lora.targets"});
    plan.phases.push_back(std::move(export_phase));
  }
  return plan;
}

// Stages lm and reward: one trained model (stage reward samples its pairs first, from the base).
MemoryPlan plan_training(const config::ExperimentConfig& cfg, const ModelShapes& s,
                         std::int64_t world, double runtime, bool reward) {
  const model::LlamaConfig& c = reward && s.reward ? *s.reward : s.policy;
  const double params = static_cast<double>(parameter_count(c, reward));
  const bool user_pairs = !cfg.reward.preferences_file.empty();
  // A reward batch is train.batch_size comparison groups: prompts_per_group prompts of
  // samples_per_prompt continuations (two sequences per pair with a preferences file) of up to
  // max_prompt_tokens + 1 + max_new_tokens tokens.
  const double group =
      user_pairs
          ? 2.0
          : static_cast<double>(cfg.reward.samples_per_prompt * cfg.reward.prompts_per_group);
  const double rows = static_cast<double>(cfg.train.batch_size) * (reward ? group : 1.0) /
                      static_cast<double>(std::max<std::int64_t>(1, world));
  const std::int64_t T =
      reward ? cfg.data.max_prompt_tokens + 1 + cfg.generation.max_new_tokens : cfg.data.seq_len;
  MemoryPlan plan;
  plan.job = reward ? "stage reward" : "stage lm";
  // The sampled continuations (token ids, prompt and response text, gold score: about 8 bytes a
  // token and 4 characters a token, plus the containers) and their labelled pairs (32 bytes each,
  // every pair of a group), held from sampling to the end; the held-out share is included.
  std::optional<MemoryTerm> samples;
  if (reward && !user_pairs) {
    const double n = static_cast<double>(cfg.reward.train_prompts * cfg.reward.samples_per_prompt);
    const double tokens = static_cast<double>(cfg.data.max_prompt_tokens + 2) +
                          0.75 * static_cast<double>(cfg.generation.max_new_tokens);
    const double per_sample = 8 * tokens + 2 * 4 * tokens + 160;
    const double pairs_per_sample = (group - 1) / 2;
    samples = MemoryTerm{"sampled continuations and their pairs",
                         n * (per_sample + 32 * pairs_per_sample),
                         "reward.train_prompts or reward.samples_per_prompt"};
    MemoryPhase pairs{"sampling the pairs", {runtime_term(runtime), *samples}};
    add_model(pairs.terms, "base model", s.policy, false, kFloat, "");
    add_sampling(pairs.terms, s.policy, static_cast<double>(cfg.generation.batch_size),
                 cfg.data.max_prompt_tokens + 1, cfg.generation.max_new_tokens,
                 config::DType::Float32, "generation.batch_size");
    plan.phases.push_back(std::move(pairs));
  }
  MemoryPhase step{"training step", {runtime_term(runtime)}};
  if (samples) step.terms.push_back(*samples);
  add_model(step.terms, reward ? "reward model" : "model", c, reward, kFloat, "");
  step.terms.push_back({"gradients (float32)", params * kFloat, ""});
  add_optimizer(step.terms, reward ? "reward model" : "model", params, "");
  append(step.terms,
         grad_forward_terms(
             {reward ? "reward model" : "model", &c, rows, T, reward ? 0.0 : static_cast<double>(T),
              reward ? 0.0 : static_cast<double>(c.vocab_size), 3.0,
              cfg.train.gradient_checkpointing, cfg.run.dtype == config::DType::BFloat16, nullptr,
              reward ? "train.batch_size or reward.samples_per_prompt" : "train.batch_size"}));
  plan.phases.push_back(std::move(step));
  return plan;
}

// Stage calibrate and infalign-eval: sampling from frozen models, scoring, and (eval) the KL.
MemoryPlan plan_sampling_job(const config::ExperimentConfig& cfg, const ModelShapes& s,
                             bool for_eval, double runtime) {
  const model::LlamaConfig& c = s.policy;
  const double rows = static_cast<double>(cfg.generation.batch_size);
  const std::int64_t P = cfg.data.max_prompt_tokens + 1;
  const std::int64_t R = cfg.generation.max_new_tokens;
  std::vector<MemoryTerm> resident{runtime_term(runtime)};
  add_model(resident, "base model", c, false, kFloat, "");
  if (for_eval) add_model(resident, "policy", c, false, kFloat, "");
  if (cfg.generation.dtype != config::DType::Float32) {
    add_model(resident, "sampler copy", c, false, bytes_of(cfg.generation.dtype),
              "generation.dtype: float32 (samples from the model itself)");
  }
  const bool judge_model = for_eval ? std::find(cfg.eval.judges.begin(), cfg.eval.judges.end(),
                                                config::Judge::RewardModel) != cfg.eval.judges.end()
                                    : cfg.reward.kind == config::RewardKind::Model;
  if (judge_model && s.reward) {
    add_model(resident, "reward model", *s.reward, true, bytes_of(cfg.run.frozen_dtype),
              cfg.run.frozen_dtype == config::DType::Float32 ? "run.frozen_dtype: bfloat16" : "");
  }
  MemoryPlan plan;
  plan.job = for_eval ? "infalign-eval" : "stage calibrate";
  MemoryPhase sampling{"sampling", resident};
  add_sampling(sampling.terms, c, rows, P, R, cfg.generation.dtype, "generation.batch_size");
  plan.phases.push_back(std::move(sampling));
  if (for_eval) {
    MemoryPhase kl{"exact KL", resident};
    // The base's and the policy's logits of a batch, their log-softmaxes.
    kl.terms.push_back(
        {"logits and log-softmaxes of both models",
         4 * rows * static_cast<double>(R) * static_cast<double>(c.vocab_size) * kFloat,
         "generation.batch_size"});
    add_nograd_forward(kl.terms, "scoring", c, rows, P + R, 0, 0, "generation.batch_size");
    plan.phases.push_back(std::move(kl));
  }
  return plan;
}

}  // namespace

double MemoryPhase::total() const { return sum_of(terms); }

const MemoryTerm& MemoryPhase::biggest() const {
  INFALIGN_CHECK(!terms.empty(), "memory phase '{}' has no terms", name);
  return *std::max_element(
      terms.begin(), terms.end(),
      [](const MemoryTerm& a, const MemoryTerm& b) { return a.bytes < b.bytes; });
}

const MemoryPhase& MemoryPlan::peak() const {
  INFALIGN_CHECK(!phases.empty(), "memory plan of {} has no phases", job);
  return *std::max_element(
      phases.begin(), phases.end(),
      [](const MemoryPhase& a, const MemoryPhase& b) { return a.total() < b.total(); });
}

std::vector<std::string> MemoryPlan::lines() const {
  const MemoryPhase& top = peak();
  std::vector<std::string> out;
  out.push_back(fmt::format("{}: planned peak {} per process, in phase '{}':", job,
                            format_bytes(top.total()), top.name));
  std::vector<MemoryTerm> sorted = top.terms;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const MemoryTerm& a, const MemoryTerm& b) { return a.bytes > b.bytes; });
  for (const auto& t : sorted) {
    if (t.bytes <= 0) continue;
    out.push_back(fmt::format("  {:>10}  {}", format_bytes(t.bytes), t.name));
  }
  std::vector<std::string> totals;
  for (const auto& ph : phases)
    totals.push_back(fmt::format("{} {}", ph.name, format_bytes(ph.total())));
  out.push_back(fmt::format("  phases: {}", fmt::join(totals, "; ")));
  return out;
}

std::int64_t parameter_count(const model::LlamaConfig& c, bool scalar) {
  const std::int64_t H = c.hidden_size, I = c.intermediate_size, d = c.head_dim();
  const std::int64_t nh = c.num_attention_heads, nkv = c.num_key_value_heads;
  std::int64_t block = H * nh * d + 2 * H * nkv * d + nh * d * H + 3 * H * I + 2 * H;
  if (c.qkv_bias()) block += (nh + 2 * nkv) * d;
  if (c.o_bias()) block += H;
  std::int64_t n = c.vocab_size * H + c.num_hidden_layers * block + H;
  if (scalar) {
    n += H;  // score: [1, H]
  } else if (!c.tie_word_embeddings) {
    n += c.vocab_size * H;
  }
  return n;
}

std::int64_t packed_weight_count(const model::LlamaConfig& c) {
  const std::int64_t H = c.hidden_size, I = c.intermediate_size, d = c.head_dim();
  return c.num_hidden_layers *
         ((c.num_attention_heads + 2 * c.num_key_value_heads) * d * H + 2 * I * H);
}

std::int64_t lora_parameter_count(const model::LlamaConfig& c, const config::LoraConfig& lora) {
  std::int64_t per_layer = 0;
  for (const std::string& t : lora.targets) {
    const auto [in, out] = projection_shape(c, t);
    per_layer += lora.rank * (in + out);
  }
  return c.num_hidden_layers * per_layer;
}

MemoryPlan plan_memory(const config::ExperimentConfig& cfg, bool for_eval, const ModelShapes& s,
                       std::int64_t world_size, double runtime_bytes) {
  if (for_eval) return plan_sampling_job(cfg, s, true, runtime_bytes);
  switch (cfg.run.stage) {
    case config::Stage::Ppo:
      return plan_ppo(cfg, s, world_size, runtime_bytes);
    case config::Stage::Lm:
      return plan_training(cfg, s, world_size, runtime_bytes, false);
    case config::Stage::Reward:
      return plan_training(cfg, s, world_size, runtime_bytes, true);
    case config::Stage::Calibrate:
      return plan_sampling_job(cfg, s, false, runtime_bytes);
    case config::Stage::Tokenizer:
      break;
  }
  MemoryPlan plan;
  plan.job = "stage tokenizer";
  plan.phases.push_back({"training", {runtime_term(runtime_bytes)}});
  return plan;
}

}  // namespace infalign::app
