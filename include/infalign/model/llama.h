// Llama-family decoder in LibTorch: embedding; blocks of RMSNorm -> causal self-attention with
// rotary embeddings (HF rotate-half layout) and grouped-query attention -> RMSNorm -> SwiGLU;
// final RMSNorm. Parameter names are Hugging Face's (`model.layers.3.self_attn.q_proj.weight`),
// so safetensors import/export is a lookup. No dropout anywhere.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Generator.h>
#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "infalign/model/kv_cache.h"
#include "infalign/model/llama_config.h"

namespace infalign::model {

class LlamaBlockImpl;
class WeightImpl;

// Inputs of one forward pass. Shapes: B batch, T new positions, S = cache length + T.
struct DecoderInput {
  at::Tensor input_ids;       // [B, T] int64 (pad positions hold any valid id)
  at::Tensor attention_mask;  // [B, S] 1 = real token, 0 = padding (cached positions included)
  at::Tensor position_ids;    // [B, T] int64: cumsum(attention_mask) - 1 for left-padded rows
};

// LoRA adapters (lora.*): rank r, scale alpha / r, on the named projections of every block.
struct LoraSpec {
  std::int64_t rank = 0;
  double alpha = 16.0;
  std::vector<std::string> targets;
};

// The backbone, registered as `model` in the heads below.
class LlamaModelImpl : public torch::nn::Module {
 public:
  explicit LlamaModelImpl(const LlamaConfig& config);
  // Final-normed hidden states [B, T, H] in the parameters' dtype. With `cache`, keys/values of
  // the T new positions are appended and attention covers the cached ones too.
  at::Tensor forward(const DecoderInput& input, KvCache* cache = nullptr);
  const LlamaConfig& config() const { return config_; }
  const at::Tensor& embedding_weight() const;
  // Gradient checkpointing per decoder block (train.gradient_checkpointing): a forward with
  // gradients and no KV cache keeps only each block's input, and the backward runs the block
  // again to differentiate it. Gradients are those of the plain forward; activation memory is
  // one block's instead of all of them, for one more forward of compute.
  void set_gradient_checkpointing(bool on) { checkpointing_ = on; }
  bool gradient_checkpointing() const { return checkpointing_; }
  // LoRA: adds adapters (`<projection>.lora_A.weight` [r, in], uniform in +-1/sqrt(in);
  // `.lora_B.weight` [out, r], zero) to every block, so outputs are unchanged until B trains.
  // Layers compute x W^T + alpha / r (x A^T) B^T; forwards without gradients use the merged
  // weights. The caller freezes the base (requires_grad false) if only adapters should train.
  void add_lora(const LoraSpec& spec, at::Generator generator);
  // Adapters off: exactly the base model (PPO's reference is the policy with adapters off).
  void set_adapters_enabled(bool on);
  bool has_lora() const { return has_lora_; }
  bool adapters_enabled() const { return adapters_on_; }
  const LoraSpec& lora() const { return lora_; }

 private:
  LlamaConfig config_;
  bool checkpointing_ = false;
  bool has_lora_ = false;
  bool adapters_on_ = true;
  LoraSpec lora_;
  std::shared_ptr<WeightImpl> embed_tokens_;
  std::vector<std::shared_ptr<LlamaBlockImpl>> layers_;
  std::shared_ptr<WeightImpl> norm_;
  // Per-position rotary tables [P, head_dim] (P >= the longest sequence seen) in the activation
  // dtype and device, built on first use and grown as needed (not parameters).
  struct RopeTables {
    at::Tensor cos, sin_signed;
  };
  const RopeTables& rope_tables(c10::Device device, at::ScalarType dtype, std::int64_t length);
  RopeTables rope_;
};
TORCH_MODULE(LlamaModel);

// Policy and reference: backbone + LM head (`lm_head.weight`, absent when tied).
class CausalLmImpl : public torch::nn::Module {
 public:
  explicit CausalLmImpl(const LlamaConfig& config);
  // Logits [B, T, V] in float32.
  at::Tensor forward(const DecoderInput& input, KvCache* cache = nullptr);
  // Logits [B, T, V] in float32 from hidden states [B, T, H].
  at::Tensor logits(const at::Tensor& hidden);
  LlamaModel& backbone() { return model_; }
  const LlamaConfig& config() const { return model_->config(); }

 private:
  LlamaModel model_{nullptr};
  std::shared_ptr<WeightImpl> lm_head_;  // null when tied to the embedding
};
TORCH_MODULE(CausalLm);

// Reward and value models: backbone + `score.weight` [1, H] (HF LlamaForSequenceClassification
// with one label, no bias).
class ScalarModelImpl : public torch::nn::Module {
 public:
  explicit ScalarModelImpl(const LlamaConfig& config);
  // One value per position [B, T] in float32 (the value model uses all of them).
  at::Tensor forward(const DecoderInput& input);
  LlamaModel& backbone() { return model_; }
  const LlamaConfig& config() const { return model_->config(); }

 private:
  LlamaModel model_{nullptr};
  std::shared_ptr<WeightImpl> score_;
};
TORCH_MODULE(ScalarModel);

// The value at each row's last real token: values [B, T], attention_mask [B, T] -> [B]. This is
// the reward model's score (as HF reads it, at the last non-pad token).
at::Tensor score_at_last_token(const at::Tensor& values, const at::Tensor& attention_mask);

// The rotary frequencies [head_dim / 2] in float32 for `config`'s rope_theta and rope_scaling
// (HF's default, linear and llama3 rules).
at::Tensor rope_inv_freq(const LlamaConfig& config);

// position_ids for left-padded rows: cumsum(mask) - 1, clamped at 0 on the padding. [B, T].
at::Tensor position_ids_from_mask(const at::Tensor& attention_mask);

// The weights as Hugging Face stores them: adapters merged (W + alpha / r B A, computed in
// float32), no lora_A / lora_B entries; without adapters, the parameters.
std::vector<std::pair<std::string, at::Tensor>> hf_named_weights(torch::nn::Module& model);
// The same, one weight at a time (a merged weight lives only while `visit` runs).
void for_each_hf_weight(torch::nn::Module& model,
                        const std::function<void(const std::string&, const at::Tensor&)>& visit);
// The adapter parameters only (names ending in .lora_A.weight / .lora_B.weight).
std::vector<std::pair<std::string, at::Tensor>> lora_named_weights(torch::nn::Module& model);

// While alive, the models this thread constructs get parameters of `dtype` left uninitialised
// (their values come from a file or another model right after), instead of float32 random
// ones: loading then holds one copy of the weights, in their final dtype, and draws nothing
// from the default generator.
class UninitialisedParameters {
 public:
  explicit UninitialisedParameters(at::ScalarType dtype);
  ~UninitialisedParameters();
  UninitialisedParameters(const UninitialisedParameters&) = delete;
  UninitialisedParameters& operator=(const UninitialisedParameters&) = delete;

 private:
  int previous_;
};

// Re-initialises every parameter as HF does for Llama (normal(0, 0.02) for matrices, 1 for
// norms, 0 for biases) from `generator`.
void init_weights(torch::nn::Module& module, at::Generator generator);

}  // namespace infalign::model
