#include "infalign/model/llama.h"

#include <cmath>
#include <functional>
#include <string>

#include <fmt/format.h>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include "infalign/core/error.h"
#include "infalign/model/fused_ops.h"
#include "infalign/runtime/tensor_format.h"

namespace infalign::model {

namespace {

// The dtype of UninitialisedParameters on this thread, -1 when none is alive.
thread_local int t_uninitialised = -1;

at::TensorOptions parameter_options() {
  return at::TensorOptions().dtype(
      t_uninitialised < 0 ? at::kFloat : static_cast<at::ScalarType>(t_uninitialised));
}

// init_weights, unless UninitialisedParameters is alive.
void init_fresh(torch::nn::Module& module) {
  if (t_uninitialised < 0) init_weights(module, at::detail::getDefaultCPUGenerator());
}

}  // namespace

// A module holding a parameter called `weight` and optionally `bias` [out]: HF names every
// Llama weight `<module>.weight` (and Qwen2's projection biases `<module>.bias`).
class WeightImpl : public torch::nn::Module {
 public:
  explicit WeightImpl(at::IntArrayRef shape, bool with_bias = false) {
    weight = register_parameter("weight", at::empty(shape, parameter_options()));
    if (with_bias) bias = register_parameter("bias", at::zeros({shape[0]}, parameter_options()));
  }
  at::Tensor weight;
  at::Tensor bias;  // undefined without
  // LoRA adapter (PEFT's names: <module>.lora_A.weight [r, in], <module>.lora_B.weight [out, r]);
  // null without. The layer computes x W^T + scale * (x A^T) B^T.
  std::shared_ptr<WeightImpl> lora_a, lora_b;
  double lora_scale = 0.0;
};

namespace {

std::shared_ptr<WeightImpl> add_weight(torch::nn::Module& parent, const std::string& name,
                                       at::IntArrayRef shape, bool with_bias = false) {
  return parent.register_module(name, std::make_shared<WeightImpl>(shape, with_bias));
}

// HF LlamaRMSNorm: normalise in float32, then scale in the input dtype (fused on CPU).
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps) {
  return fused::rms_norm(x, weight, eps);
}

// x [N, in] @ w_t [in, out] (+ residual [N, out]). A single row goes through matrix-vector
// BLAS: general matrix products pack the whole weight matrix on every call, which dominates
// batch-1 decoding.
at::Tensor rows_times(const at::Tensor& x, const at::Tensor& w_t) {
  if (x.size(0) == 1) return at::mv(w_t.t(), x.select(0, 0)).unsqueeze(0);
  return at::mm(x, w_t);
}

// The same plus a bias [out] on every row (when defined).
at::Tensor rows_times(const at::Tensor& x, const at::Tensor& w_t, const at::Tensor& bias) {
  if (!bias.defined()) return rows_times(x, w_t);
  if (x.size(0) == 1) return at::addmv(bias, w_t.t(), x.select(0, 0)).unsqueeze(0);
  return at::addmm(bias, x, w_t);
}

at::Tensor residual_plus_rows_times(const at::Tensor& residual, const at::Tensor& x,
                                    const at::Tensor& w_t) {
  if (x.size(0) == 1) return at::addmv(residual.select(0, 0), w_t.t(), x.select(0, 0)).unsqueeze(0);
  return at::addmm(residual, x, w_t);
}

// The identity of a parameter's current contents: storage, in-place version and dtype.
struct Stamp {
  const void* data = nullptr;
  std::int64_t version = 0;
  at::ScalarType dtype = at::kFloat;
  bool operator==(const Stamp& o) const {
    return data == o.data && version == o.version && dtype == o.dtype;
  }
};

Stamp stamp_of(const at::Tensor& t) { return {t.data_ptr(), t._version(), t.scalar_type()}; }

}  // namespace

class LlamaBlockImpl : public torch::nn::Module {
 public:
  LlamaBlockImpl(const LlamaConfig& c, std::size_t index) : c_(c), index_(index) {
    const auto d = c.head_dim();
    input_layernorm_ = add_weight(*this, "input_layernorm", {c.hidden_size});
    auto attn = register_module("self_attn", std::make_shared<torch::nn::Module>());
    const bool qkv_bias = c.qkv_bias();
    q_proj_ = add_weight(*attn, "q_proj", {c.num_attention_heads * d, c.hidden_size}, qkv_bias);
    k_proj_ = add_weight(*attn, "k_proj", {c.num_key_value_heads * d, c.hidden_size}, qkv_bias);
    v_proj_ = add_weight(*attn, "v_proj", {c.num_key_value_heads * d, c.hidden_size}, qkv_bias);
    o_proj_ = add_weight(*attn, "o_proj", {c.hidden_size, c.num_attention_heads * d}, c.o_bias());
    post_attention_layernorm_ = add_weight(*this, "post_attention_layernorm", {c.hidden_size});
    auto mlp = register_module("mlp", std::make_shared<torch::nn::Module>());
    gate_proj_ = add_weight(*mlp, "gate_proj", {c.intermediate_size, c.hidden_size});
    up_proj_ = add_weight(*mlp, "up_proj", {c.intermediate_size, c.hidden_size});
    down_proj_ = add_weight(*mlp, "down_proj", {c.hidden_size, c.intermediate_size});
  }

  // Adds LoRA adapters to the projections named in `targets` (A uniform in +-1/sqrt(in) as PEFT
  // initialises it, B zero: outputs unchanged until B trains).
  void add_lora(const std::vector<std::string>& targets, std::int64_t rank, double alpha,
                at::Generator gen) {
    for (const std::string& t : targets) {
      std::shared_ptr<WeightImpl>& w = projection(t);
      const auto out = w->weight.size(0), in = w->weight.size(1);
      w->lora_a =
          w->register_module("lora_A", std::make_shared<WeightImpl>(at::IntArrayRef{rank, in}));
      w->lora_b =
          w->register_module("lora_B", std::make_shared<WeightImpl>(at::IntArrayRef{out, rank}));
      at::NoGradGuard no_grad;
      const double bound = 1.0 / std::sqrt(static_cast<double>(in));
      w->lora_a->weight.copy_(at::empty({rank, in}, at::kFloat).uniform_(-bound, bound, gen));
      w->lora_b->weight.zero_();
      w->lora_a->weight.set_data(w->lora_a->weight.to(w->weight.options()));
      w->lora_b->weight.set_data(w->lora_b->weight.to(w->weight.options()));
      w->lora_scale = alpha / static_cast<double>(rank);
      has_lora_ = true;
    }
  }
  void set_adapters_enabled(bool on) { adapters_on_ = on; }
  std::shared_ptr<WeightImpl>& projection(const std::string& name) {
    if (name == "q_proj") return q_proj_;
    if (name == "k_proj") return k_proj_;
    if (name == "v_proj") return v_proj_;
    if (name == "o_proj") return o_proj_;
    if (name == "gate_proj") return gate_proj_;
    if (name == "up_proj") return up_proj_;
    if (name == "down_proj") return down_proj_;
    throw Error(
        fmt::format("lora.targets: unknown projection '{}' (q_proj, k_proj, v_proj, "
                    "o_proj, gate_proj, up_proj, down_proj)",
                    name));
  }

  // h [N = B * T, H]; cos/sin_signed [B, T, 1, d]; bias additive float32, broadcastable to
  // [B, heads, T, S].
  at::Tensor forward(const at::Tensor& h, std::int64_t B, std::int64_t T, const at::Tensor& cos,
                     const at::Tensor& sin_signed, const at::Tensor& bias, KvCache* cache) {
    const auto d = c_.head_dim();
    const auto nh = c_.num_attention_heads, nkv = c_.num_key_value_heads;
    const Packed& w = packed();
    const at::Tensor x = rms_norm(h, input_layernorm_->weight, c_.rms_norm_eps);
    // One matmul for q, k and v (weights stacked; the q rows pre-scaled by 1/sqrt(d)).
    at::Tensor qkv = rows_times(x, w.qkv_t, w.qkv_b);
    // Adapters in a forward with gradients run beside the frozen weights (no merged copy of the
    // weights held for the backward); without gradients packed() has merged them.
    const bool deltas = has_lora_ && adapters_on_ && !w.merged;
    if (deltas && (q_proj_->lora_a || k_proj_->lora_a || v_proj_->lora_a)) {
      const double q_scale = 1.0 / std::sqrt(static_cast<double>(d));
      qkv = qkv + at::cat({lora_delta(*q_proj_, x) * q_scale, lora_delta(*k_proj_, x),
                           lora_delta(*v_proj_, x)},
                          1);
    }
    at::Tensor merged;
    if (cache == nullptr) {
      // A whole sequence (training and scoring forwards): one fused operation on CPU.
      merged = fused::attention(qkv, cos, sin_signed, bias, {B, T, nh, nkv, d});
    } else {
      merged =
          cached_attention(qkv.view({B, T, nh + 2 * nkv, d}), B, T, cos, sin_signed, bias, *cache);
    }
    at::Tensor h1 = residual_plus_rows_times(w.o_b.defined() ? h + w.o_b : h, merged, w.o_t);
    if (deltas && o_proj_->lora_a) h1 = h1 + lora_delta(*o_proj_, merged);
    const at::Tensor y = rms_norm(h1, post_attention_layernorm_->weight, c_.rms_norm_eps);
    at::Tensor gate_up = rows_times(y, w.gate_up_t);
    if (deltas && (gate_proj_->lora_a || up_proj_->lora_a)) {
      gate_up = gate_up + at::cat({lora_delta(*gate_proj_, y), lora_delta(*up_proj_, y)}, 1);
    }
    const at::Tensor act = fused::swiglu(gate_up);
    at::Tensor out = residual_plus_rows_times(h1, act, w.down_t);
    if (deltas && down_proj_->lora_a) out = out + lora_delta(*down_proj_, act);
    return out;
  }

  // scale * (x A^T) B^T for a projection with an adapter; zeros [N, out] without.
  static at::Tensor lora_delta(const WeightImpl& p, const at::Tensor& x) {
    if (!p.lora_a) return at::zeros({x.size(0), p.weight.size(0)}, x.options());
    return at::mm(at::mm(x, p.lora_a->weight.t()), p.lora_b->weight.t()) * p.lora_scale;
  }

 private:
  // One rotary pass over q and k together, then split by views; new keys and values appended
  // to the cache ([B * nkv, S, d] views of it, no copies).
  at::Tensor cached_attention(const at::Tensor& qkv, std::int64_t B, std::int64_t T,
                              const at::Tensor& cos, const at::Tensor& sin_signed,
                              const at::Tensor& bias, KvCache& cache) {
    const auto d = c_.head_dim();
    const auto nh = c_.num_attention_heads, nkv = c_.num_key_value_heads;
    const at::Tensor qk = fused::apply_rope(qkv.narrow(2, 0, nh + nkv), cos, sin_signed);
    const at::Tensor q = qk.narrow(2, 0, nh).transpose(1, 2);  // [B, nh, T, d]
    const auto [k, v] = cache.append(index_, qk.narrow(2, nh, nkv).transpose(1, 2),
                                     qkv.narrow(2, nh + nkv, nkv).transpose(1, 2));
    return fused::grouped_attention(q, k, v, bias, {B, T, nh, nkv, d});  // k, v: views
  }

  // Transposed (and stacked) weights for the matmuls above. With gradients on they are built
  // from the parameters on every call (so gradients reach each parameter); without, they are
  // cached until a parameter changes (storage, in-place version or dtype).
  struct Packed {
    at::Tensor qkv_t, o_t, gate_up_t, down_t;
    at::Tensor qkv_b, o_b;  // stacked q/k/v biases (q part scaled) and o's; undefined without
    bool merged = false;    // adapters merged into the weights above
    std::vector<Stamp> stamps;
  };

  const Packed& packed() {
    std::vector<at::Tensor*> sources = {&q_proj_->weight,   &k_proj_->weight,    &v_proj_->weight,
                                        &o_proj_->weight,   &gate_proj_->weight, &up_proj_->weight,
                                        &down_proj_->weight};
    for (auto* m : {&q_proj_, &k_proj_, &v_proj_, &o_proj_}) {
      if ((*m)->bias.defined()) sources.push_back(&(*m)->bias);
    }
    const bool grad = at::GradMode::is_enabled();
    // Without gradients, enabled adapters are merged into the packed weights (cached while
    // neither the weights, the adapters nor the switch change).
    const bool merge = has_lora_ && adapters_on_ && !grad && !unmerged_;
    if (merge) {
      for (auto* m :
           {&q_proj_, &k_proj_, &v_proj_, &o_proj_, &gate_proj_, &up_proj_, &down_proj_}) {
        if ((*m)->lora_a) {
          sources.push_back(&(*m)->lora_a->weight);
          sources.push_back(&(*m)->lora_b->weight);
        }
      }
    }
    if (packed_.merged != merge) packed_.stamps.clear();
    if (!grad) {
      bool fresh = packed_.stamps.size() == sources.size();
      for (std::size_t i = 0; fresh && i < sources.size(); ++i) {
        fresh = packed_.stamps[i] == stamp_of(*sources[i]);
      }
      if (fresh) return packed_;
    }
    const double scale = 1.0 / std::sqrt(static_cast<double>(c_.head_dim()));
    const auto eff = [&](const std::shared_ptr<WeightImpl>& p) {
      if (!merge || !p->lora_a) return p->weight;
      return p->weight + at::mm(p->lora_b->weight, p->lora_a->weight) * p->lora_scale;
    };
    packed_.qkv_t = at::cat({eff(q_proj_) * scale, eff(k_proj_), eff(v_proj_)}).t();
    packed_.o_t = eff(o_proj_).t();
    packed_.gate_up_t = at::cat({eff(gate_proj_), eff(up_proj_)}).t();
    packed_.down_t = eff(down_proj_).t();
    packed_.merged = merge;
    packed_.qkv_b = q_proj_->bias.defined()
                        ? at::cat({q_proj_->bias * scale, k_proj_->bias, v_proj_->bias})
                        : at::Tensor();
    packed_.o_b = o_proj_->bias;
    if (!grad) {
      for (at::Tensor* t : {&packed_.qkv_t, &packed_.gate_up_t}) *t = t->contiguous();
      packed_.stamps.clear();
      for (at::Tensor* s : sources) packed_.stamps.push_back(stamp_of(*s));
    } else {
      packed_.stamps.clear();
    }
    return packed_;
  }

  LlamaConfig c_;
  std::size_t index_;
  std::shared_ptr<WeightImpl> input_layernorm_, q_proj_, k_proj_, v_proj_, o_proj_,
      post_attention_layernorm_, gate_proj_, up_proj_, down_proj_;
  Packed packed_;
  bool has_lora_ = false;
  bool adapters_on_ = true;

 public:
  // Set while a checkpointed forward runs the block without gradients: adapters stay beside the
  // weights, as in the recomputation, so both compute the same values.
  bool unmerged_ = false;
};

namespace {

// One decoder block under gradient checkpointing. The forward (run by autograd without
// gradients) keeps the block's input only; the backward runs the block again with gradients
// and differentiates that, so the gradients are those of the plain forward. The block has no
// randomness (no dropout), so the second run computes the same values.
struct CheckpointedBlock : public torch::autograd::Function<CheckpointedBlock> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& h,
                            at::TensorList params, const at::Tensor& cos,
                            const at::Tensor& sin_signed, const at::Tensor& bias, std::int64_t B,
                            std::int64_t T, LlamaBlockImpl* block) {
    ctx->save_for_backward({h, cos, sin_signed, bias});
    ctx->saved_data["B"] = B;
    ctx->saved_data["T"] = T;
    ctx->saved_data["block"] = reinterpret_cast<std::int64_t>(block);
    ctx->saved_data["params"] = static_cast<std::int64_t>(params.size());
    block->unmerged_ = true;
    at::Tensor out;
    try {
      out = block->forward(h, B, T, cos, sin_signed, bias, nullptr);
    } catch (...) {
      block->unmerged_ = false;
      throw;
    }
    block->unmerged_ = false;
    return out;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto saved = ctx->get_saved_variables();
    auto* block = reinterpret_cast<LlamaBlockImpl*>(ctx->saved_data["block"].toInt());
    const auto n_params = static_cast<std::size_t>(ctx->saved_data["params"].toInt());
    const std::vector<at::Tensor> params = block->parameters();
    INFALIGN_CHECK(params.size() == n_params, "checkpointed block: {} parameters, {} saved",
                   params.size(), n_params);
    at::Tensor h = saved[0].detach().requires_grad_(saved[0].requires_grad());
    std::vector<at::Tensor> wrt;
    if (h.requires_grad()) wrt.push_back(h);
    for (const at::Tensor& p : params) {
      if (p.requires_grad()) wrt.push_back(p);
    }
    std::vector<at::Tensor> grads;
    {
      at::AutoGradMode on(true);
      const at::Tensor out =
          block->forward(h, ctx->saved_data["B"].toInt(), ctx->saved_data["T"].toInt(), saved[1],
                         saved[2], saved[3], nullptr);
      if (!wrt.empty()) {
        grads = torch::autograd::grad({out}, wrt, {grad_out[0]}, /*retain_graph=*/false,
                                      /*create_graph=*/false, /*allow_unused=*/true);
      }
    }
    // One gradient per input of forward: h, each parameter, cos, sin, bias, B, T, block.
    torch::autograd::variable_list result;
    std::size_t next = 0;
    result.push_back(h.requires_grad() ? grads[next++] : at::Tensor());
    for (const at::Tensor& p : params)
      result.push_back(p.requires_grad() ? grads[next++] : at::Tensor());
    for (int k = 0; k < 6; ++k) result.emplace_back();
    return result;
  }
};

}  // namespace

LlamaModelImpl::LlamaModelImpl(const LlamaConfig& config) : config_(config) {
  config_.validate("model");
  embed_tokens_ = add_weight(*this, "embed_tokens", {config_.vocab_size, config_.hidden_size});
  auto layers = register_module("layers", std::make_shared<torch::nn::Module>());
  for (std::int64_t i = 0; i < config_.num_hidden_layers; ++i) {
    layers_.push_back(layers->register_module(
        std::to_string(i), std::make_shared<LlamaBlockImpl>(config_, static_cast<std::size_t>(i))));
  }
  norm_ = add_weight(*this, "norm", {config_.hidden_size});
  init_fresh(*this);
}

const at::Tensor& LlamaModelImpl::embedding_weight() const { return embed_tokens_->weight; }

void LlamaModelImpl::add_lora(const LoraSpec& spec, at::Generator generator) {
  INFALIGN_CHECK(!has_lora_, "adapters were added already");
  INFALIGN_CHECK(spec.rank > 0, "lora rank must be positive; got {}", spec.rank);
  for (const auto& layer : layers_) layer->add_lora(spec.targets, spec.rank, spec.alpha, generator);
  has_lora_ = true;
  lora_ = spec;
}

void LlamaModelImpl::set_adapters_enabled(bool on) {
  for (const auto& layer : layers_) layer->set_adapters_enabled(on);
  adapters_on_ = on;
}

void for_each_hf_weight(torch::nn::Module& model,
                        const std::function<void(const std::string&, const at::Tensor&)>& visit) {
  at::NoGradGuard no_grad;
  for (const auto& item : model.named_modules("", /*include_self=*/true)) {
    const auto w = std::dynamic_pointer_cast<WeightImpl>(item.value());
    const std::string& key = item.key();
    const bool adapter = key.size() >= 7 && (key.compare(key.size() - 7, 7, ".lora_A") == 0 ||
                                             key.compare(key.size() - 7, 7, ".lora_B") == 0);
    if (!w || adapter) continue;
    if (w->lora_a) {
      visit(item.key() + ".weight",
            (w->weight.to(at::kFloat) +
             at::mm(w->lora_b->weight.to(at::kFloat), w->lora_a->weight.to(at::kFloat)) *
                 w->lora_scale)
                .to(w->weight.scalar_type()));
    } else {
      visit(item.key() + ".weight", w->weight);
    }
    if (w->bias.defined()) visit(item.key() + ".bias", w->bias);
  }
}

std::vector<std::pair<std::string, at::Tensor>> hf_named_weights(torch::nn::Module& model) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for_each_hf_weight(
      model, [&](const std::string& name, const at::Tensor& t) { out.emplace_back(name, t); });
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> lora_named_weights(torch::nn::Module& model) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : model.named_parameters(/*recurse=*/true)) {
    if (p.key().find(".lora_A.") != std::string::npos ||
        p.key().find(".lora_B.") != std::string::npos) {
      out.emplace_back(p.key(), p.value());
    }
  }
  return out;
}

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
  if (config_.sliding_window > 0 && S > config_.sliding_window) {
    throw Error(fmt::format(
        "a sequence of {} positions is longer than the model's sliding_window ({}, model_type "
        "{}); sliding-window attention is not implemented, so sequences must fit in the window: "
        "lower data.max_prompt_tokens + generation.max_new_tokens (data.seq_len for stage lm)",
        S, config_.sliding_window, model_type_name(config_.family)));
  }
  const auto device = embed_tokens_->weight.device();
  const auto dtype = embed_tokens_->weight.scalar_type();

  at::Tensor h = at::embedding(embed_tokens_->weight, ids).view({B * T, config_.hidden_size});
  // Rotary tables: rows of the per-position cos / signed-sin tables, [B, T, 1, d].
  const RopeTables& rope = rope_tables(device, dtype, S);
  const at::Tensor cos = at::embedding(rope.cos, input.position_ids).unsqueeze(2);
  const at::Tensor sin_signed = at::embedding(rope.sin_signed, input.position_ids).unsqueeze(2);
  // Additive mask: 0 where key j is visible to new position i (real and j <= past + i), else a
  // large finite negative rather than -inf, so a padding query that sees nothing gets a uniform
  // row instead of NaN (its output is never used).
  at::Tensor bias = (input.attention_mask.to(at::kFloat) - 1.0) * 1e30;  // [B, S]
  if (T == 1) {
    bias = bias.view({B, 1, 1, S});  // one new position sees every stored key
  } else {
    const auto index_options = at::TensorOptions().dtype(at::kLong).device(device);
    const at::Tensor future = at::arange(S, index_options).unsqueeze(0) >
                              at::arange(past, S, index_options).unsqueeze(1);  // [T, S]
    bias = bias.view({B, 1, 1, S}).masked_fill(future.view({1, 1, T, S}), -1e30);
  }
  const bool checkpoint = checkpointing_ && cache == nullptr && at::GradMode::is_enabled();
  for (const auto& layer : layers_) {
    if (checkpoint) {
      const std::vector<at::Tensor> params = layer->parameters();
      h = CheckpointedBlock::apply(h, at::TensorList(params), cos, sin_signed, bias, B, T,
                                   layer.get());
    } else {
      h = layer->forward(h, B, T, cos, sin_signed, bias, cache);
    }
  }
  if (cache != nullptr) cache->advance(T);
  return rms_norm(h, norm_->weight, config_.rms_norm_eps).view({B, T, config_.hidden_size});
}

at::Tensor rope_inv_freq(const LlamaConfig& config) {
  const auto d = config.head_dim();
  at::Tensor inv_freq =
      1.0 / at::pow(config.rope_theta,
                    at::arange(0, d, 2, at::TensorOptions().dtype(at::kLong)).to(at::kFloat) /
                        static_cast<double>(d));
  const RopeScaling& rs = config.rope_scaling;
  switch (rs.type) {
    case RopeScaling::Type::None:
      break;
    case RopeScaling::Type::Linear:
      inv_freq = inv_freq / rs.factor;
      break;
    case RopeScaling::Type::Llama3: {
      const auto old = static_cast<double>(rs.original_max_position_embeddings);
      const double low_wavelen = old / rs.low_freq_factor, high_wavelen = old / rs.high_freq_factor;
      const at::Tensor wavelen = 2.0 * M_PI / inv_freq;
      const at::Tensor smooth =
          (old / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
      const at::Tensor blended = (1.0 - smooth) * inv_freq / rs.factor + smooth * inv_freq;
      inv_freq = at::where(wavelen < high_wavelen, inv_freq,
                           at::where(wavelen > low_wavelen, inv_freq / rs.factor, blended));
      break;
    }
  }
  return inv_freq;
}

const LlamaModelImpl::RopeTables& LlamaModelImpl::rope_tables(c10::Device device,
                                                              at::ScalarType dtype,
                                                              std::int64_t length) {
  if (rope_.cos.defined() && rope_.cos.device() == device && rope_.cos.scalar_type() == dtype &&
      rope_.cos.size(0) >= length) {
    return rope_;
  }
  // Rows for positions 0 .. P-1, P the next power of two from max(length, 64): built once for a
  // run's sequences however long the model's context (Llama 3.1: 131072) could be. HF computes
  // the angles in float32 and casts cos/sin to the activation dtype.
  std::int64_t rows = 64;
  while (rows < length) rows *= 2;
  const at::Tensor inv_freq = rope_inv_freq(config_);
  const at::Tensor positions = at::arange(rows, at::kLong).to(at::kFloat);
  const at::Tensor angles = positions.unsqueeze(1) * inv_freq.unsqueeze(0);  // [P, d/2]
  const at::Tensor cos = at::cat({angles.cos(), angles.cos()}, 1);
  const at::Tensor sin_signed = at::cat({-angles.sin(), angles.sin()}, 1);
  rope_.cos = cos.to(device, dtype);
  rope_.sin_signed = sin_signed.to(device, dtype);
  return rope_;
}

CausalLmImpl::CausalLmImpl(const LlamaConfig& config) {
  model_ = register_module("model", LlamaModel(config));
  if (!config.tie_word_embeddings) {
    lm_head_ = add_weight(*this, "lm_head", {config.vocab_size, config.hidden_size});
    init_fresh(*lm_head_);
  }
}

at::Tensor CausalLmImpl::logits(const at::Tensor& hidden) {
  const at::Tensor& w = lm_head_ ? lm_head_->weight : model_->embedding_weight();
  const auto B = hidden.size(0), T = hidden.size(1);
  const at::Tensor logits =
      rows_times(hidden.reshape({B * T, hidden.size(2)}), w.t()).view({B, T, -1});
  return logits.scalar_type() == at::kFloat ? logits : logits.to(at::kFloat);
}

at::Tensor CausalLmImpl::forward(const DecoderInput& input, KvCache* cache) {
  return logits(model_->forward(input, cache));
}

ScalarModelImpl::ScalarModelImpl(const LlamaConfig& config) {
  model_ = register_module("model", LlamaModel(config));
  score_ = add_weight(*this, "score", {1, config.hidden_size});
  init_fresh(*score_);
}

at::Tensor ScalarModelImpl::forward(const DecoderInput& input) {
  // The head in float32 whatever the autocast or storage dtype (a product and a sum are not on
  // autocast's list): a bf16 head would round every score to 8 significant bits, and scores of
  // one prompt would tie in calibration ranks and comparisons.
  return (model_->forward(input).to(at::kFloat) * score_->weight.to(at::kFloat).squeeze(0)).sum(-1);
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

UninitialisedParameters::UninitialisedParameters(at::ScalarType dtype)
    : previous_(t_uninitialised) {
  t_uninitialised = static_cast<int>(dtype);
}

UninitialisedParameters::~UninitialisedParameters() { t_uninitialised = previous_; }

void init_weights(torch::nn::Module& module, at::Generator generator) {
  at::NoGradGuard no_grad;
  for (auto& p : module.named_parameters(/*recurse=*/true)) {
    at::Tensor& t = p.value();
    const std::string& name = p.key();
    if (name == "bias" || (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0)) {
      t.zero_();  // projection biases (Qwen2, Llama's attention_bias)
    } else if (t.dim() == 1) {
      t.fill_(1.0);  // RMSNorm scales
    } else {
      t.normal_(0.0, 0.02, generator);
    }
  }
}

}  // namespace infalign::model
