#include "infalign/model/llama.h"

#include <cmath>
#include <string>

#include <fmt/format.h>

#include <ATen/ATen.h>

#include "infalign/core/error.h"
#include "infalign/runtime/tensor_format.h"

namespace infalign::model {

// A module holding one parameter called `weight`: HF names every Llama weight `<module>.weight`.
class WeightImpl : public torch::nn::Module {
 public:
  explicit WeightImpl(at::IntArrayRef shape) {
    weight = register_parameter("weight", at::empty(shape));
  }
  at::Tensor weight;
};

namespace {

std::shared_ptr<WeightImpl> add_weight(torch::nn::Module& parent, const std::string& name,
                                       at::IntArrayRef shape) {
  return parent.register_module(name, std::make_shared<WeightImpl>(shape));
}

// x @ W^T for a weight [out, in].
at::Tensor linear(const at::Tensor& x, const WeightImpl& w) { return at::matmul(x, w.weight.t()); }

// HF LlamaRMSNorm: normalise in float32, then scale in the input dtype.
at::Tensor rms_norm(const at::Tensor& x, const WeightImpl& w, double eps) {
  const at::Tensor x32 = x.to(at::kFloat);
  const at::Tensor normed = x32 * at::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
  return w.weight * normed.to(x.scalar_type());
}

// HF rotate_half: (x1, x2) -> (-x2, x1) over the two halves of the last dimension.
at::Tensor rotate_half(const at::Tensor& x) {
  const auto half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

}  // namespace

class LlamaBlockImpl : public torch::nn::Module {
 public:
  LlamaBlockImpl(const LlamaConfig& c, std::size_t index) : c_(c), index_(index) {
    const auto d = c.head_dim();
    input_layernorm_ = add_weight(*this, "input_layernorm", {c.hidden_size});
    auto attn = register_module("self_attn", std::make_shared<torch::nn::Module>());
    q_proj_ = add_weight(*attn, "q_proj", {c.num_attention_heads * d, c.hidden_size});
    k_proj_ = add_weight(*attn, "k_proj", {c.num_key_value_heads * d, c.hidden_size});
    v_proj_ = add_weight(*attn, "v_proj", {c.num_key_value_heads * d, c.hidden_size});
    o_proj_ = add_weight(*attn, "o_proj", {c.hidden_size, c.num_attention_heads * d});
    post_attention_layernorm_ = add_weight(*this, "post_attention_layernorm", {c.hidden_size});
    auto mlp = register_module("mlp", std::make_shared<torch::nn::Module>());
    gate_proj_ = add_weight(*mlp, "gate_proj", {c.intermediate_size, c.hidden_size});
    up_proj_ = add_weight(*mlp, "up_proj", {c.intermediate_size, c.hidden_size});
    down_proj_ = add_weight(*mlp, "down_proj", {c.hidden_size, c.intermediate_size});
  }

  // h [B, T, H]; cos/sin [B, 1, T, d]; bias [B, 1, T, S] additive float32 mask.
  at::Tensor forward(const at::Tensor& h, const at::Tensor& cos, const at::Tensor& sin,
                     const at::Tensor& bias, KvCache* cache) {
    const auto B = h.size(0), T = h.size(1), d = c_.head_dim();
    const auto nh = c_.num_attention_heads, nkv = c_.num_key_value_heads;
    const at::Tensor x = rms_norm(h, *input_layernorm_, c_.rms_norm_eps);
    at::Tensor q = linear(x, *q_proj_).view({B, T, nh, d}).transpose(1, 2);
    at::Tensor k = linear(x, *k_proj_).view({B, T, nkv, d}).transpose(1, 2);
    at::Tensor v = linear(x, *v_proj_).view({B, T, nkv, d}).transpose(1, 2);
    q = q * cos + rotate_half(q) * sin;
    k = k * cos + rotate_half(k) * sin;
    if (cache != nullptr) std::tie(k, v) = cache->append(index_, k, v);
    const auto S = k.size(2);
    // Grouped-query attention: query head j reads key/value head j / (nh / nkv), as HF's
    // repeat_kv; done as a reshape of the queries instead of copying keys and values.
    const auto group = nh / nkv;
    const at::Tensor qg = q.reshape({B, nkv, group * T, d});
    at::Tensor scores = at::matmul(qg, k.transpose(-1, -2)).view({B, nh, T, S});
    scores = scores.to(at::kFloat) * (1.0 / std::sqrt(static_cast<double>(d))) + bias;
    const at::Tensor probs = at::softmax(scores, -1).to(v.scalar_type());
    const at::Tensor attn = at::matmul(probs.view({B, nkv, group * T, S}), v).view({B, nh, T, d});
    const at::Tensor merged = attn.transpose(1, 2).reshape({B, T, nh * d});
    const at::Tensor h1 = h + linear(merged, *o_proj_);
    const at::Tensor y = rms_norm(h1, *post_attention_layernorm_, c_.rms_norm_eps);
    const at::Tensor gated = at::silu(linear(y, *gate_proj_)) * linear(y, *up_proj_);
    return h1 + linear(gated, *down_proj_);
  }

 private:
  LlamaConfig c_;
  std::size_t index_;
  std::shared_ptr<WeightImpl> input_layernorm_, q_proj_, k_proj_, v_proj_, o_proj_,
      post_attention_layernorm_, gate_proj_, up_proj_, down_proj_;
};

LlamaModelImpl::LlamaModelImpl(const LlamaConfig& config) : config_(config) {
  config_.validate("model");
  embed_tokens_ = add_weight(*this, "embed_tokens", {config_.vocab_size, config_.hidden_size});
  auto layers = register_module("layers", std::make_shared<torch::nn::Module>());
  for (std::int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    layers_.push_back(layers->register_module(
        std::to_string(i), std::make_shared<LlamaBlockImpl>(config_, static_cast<std::size_t>(i))));
  }
  norm_ = add_weight(*this, "norm", {config_.hidden_size});
  const auto d = config_.head_dim();
  inv_freq_ =
      1.0 / at::pow(config_.rope_theta,
                    at::arange(0, d, 2, at::TensorOptions().dtype(at::kLong)).to(at::kFloat) /
                        static_cast<double>(d));
  init_weights(*this, at::detail::getDefaultCPUGenerator());
}

const at::Tensor& LlamaModelImpl::embedding_weight() const { return embed_tokens_->weight; }

at::Tensor LlamaModelImpl::forward(const DecoderInput& input, KvCache* cache) {
  const at::Tensor& ids = input.input_ids;
  INFALIGN_CHECK(ids.dim() == 2, "input_ids must be [B, T]; got {}", ids.sizes());
  const auto B = ids.size(0), T = ids.size(1);
  const auto past = cache != nullptr ? cache->length() : 0;
  const auto S = past + T;
  INFALIGN_CHECK(input.attention_mask.sizes() == at::IntArrayRef({B, S}),
                 "attention_mask must be [B, cache length + T] = [{}, {}]; got {}", B, S,
                 input.attention_mask.sizes());
  INFALIGN_CHECK(input.position_ids.sizes() == ids.sizes(),
                 "position_ids must match input_ids {}; got {}", ids.sizes(),
                 input.position_ids.sizes());
  const auto device = embed_tokens_->weight.device();
  const auto dtype = embed_tokens_->weight.scalar_type();

  at::Tensor h = at::embedding(embed_tokens_->weight, ids);
  // Rotary tables in float32, cast to the activation dtype as HF does: [B, 1, T, d].
  const at::Tensor freqs = input.position_ids.to(at::kFloat).unsqueeze(-1) * inv_freq_.to(device);
  const at::Tensor emb = at::cat({freqs, freqs}, -1).unsqueeze(1);
  const at::Tensor cos = emb.cos().to(dtype), sin = emb.sin().to(dtype);
  // Additive mask [B, 1, T, S]: key j is visible to new position i when it is real and j <= past +
  // i.
  const at::Tensor query_index =
      at::arange(past, S, at::TensorOptions().dtype(at::kLong).device(device));
  const at::Tensor key_index = at::arange(S, at::TensorOptions().dtype(at::kLong).device(device));
  const at::Tensor causal = key_index.unsqueeze(0) <= query_index.unsqueeze(1);  // [T, S]
  const at::Tensor visible = causal.unsqueeze(0) & input.attention_mask.to(at::kBool).unsqueeze(1);
  // A large finite negative, not -inf: a padding query that sees nothing gets a uniform row
  // instead of NaN (its output is never used).
  const at::Tensor bias = at::where(visible, at::zeros({}, at::TensorOptions().device(device)),
                                    at::full({}, -1e30, at::TensorOptions().device(device)))
                              .unsqueeze(1);
  for (const auto& layer : layers_) h = layer->forward(h, cos, sin, bias, cache);
  if (cache != nullptr) cache->advance(T);
  return rms_norm(h, *norm_, config_.rms_norm_eps);
}

CausalLmImpl::CausalLmImpl(const LlamaConfig& config) {
  model_ = register_module("model", LlamaModel(config));
  if (!config.tie_word_embeddings) {
    lm_head_ = add_weight(*this, "lm_head", {config.vocab_size, config.hidden_size});
    init_weights(*lm_head_, at::detail::getDefaultCPUGenerator());
  }
}

at::Tensor CausalLmImpl::logits(const at::Tensor& hidden) {
  const at::Tensor& w = lm_head_ ? lm_head_->weight : model_->embedding_weight();
  return at::matmul(hidden, w.t()).to(at::kFloat);
}

at::Tensor CausalLmImpl::forward(const DecoderInput& input, KvCache* cache) {
  return logits(model_->forward(input, cache));
}

ScalarModelImpl::ScalarModelImpl(const LlamaConfig& config) {
  model_ = register_module("model", LlamaModel(config));
  score_ = add_weight(*this, "score", {1, config.hidden_size});
  init_weights(*score_, at::detail::getDefaultCPUGenerator());
}

at::Tensor ScalarModelImpl::forward(const DecoderInput& input) {
  return linear(model_->forward(input), *score_).squeeze(-1).to(at::kFloat);
}

at::Tensor score_at_last_token(const at::Tensor& values, const at::Tensor& attention_mask) {
  INFALIGN_CHECK(values.sizes() == attention_mask.sizes(),
                 "values {} and attention_mask {} must have the same shape", values.sizes(),
                 attention_mask.sizes());
  const auto T = attention_mask.size(1);
  // Index of the last 1 in each row: the largest position index among real tokens.
  const at::Tensor positions = at::arange(T, attention_mask.options().dtype(at::kLong));
  const at::Tensor last =
      at::where(attention_mask.to(at::kBool), positions, at::zeros_like(positions)).amax(1);
  return values.gather(1, last.unsqueeze(1)).squeeze(1);
}

at::Tensor position_ids_from_mask(const at::Tensor& attention_mask) {
  return (attention_mask.to(at::kLong).cumsum(1) - 1).clamp_min(0);
}

void init_weights(torch::nn::Module& module, at::Generator generator) {
  at::NoGradGuard no_grad;
  for (auto& p : module.named_parameters(/*recurse=*/true)) {
    at::Tensor& t = p.value();
    if (t.dim() == 1) {
      t.fill_(1.0);  // RMSNorm scales
    } else {
      t.normal_(0.0, 0.02, generator);
    }
  }
}

}  // namespace infalign::model
