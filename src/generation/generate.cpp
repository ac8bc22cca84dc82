#include "infalign/generation/generate.h"

#include <algorithm>
#include <optional>

#include <ATen/ATen.h>
#include <c10/core/InferenceMode.h>

#include "infalign/core/error.h"
#include "infalign/core/random.h"
#include "infalign/model/fused_ops.h"
#include "infalign/runtime/device.h"
#include "infalign/runtime/tensor_format.h"

namespace infalign::generation {

std::pair<at::Tensor, at::Tensor> left_pad(const std::vector<std::vector<std::int64_t>>& prompts,
                                           std::int64_t pad_id, c10::Device device,
                                           std::int64_t min_length) {
  INFALIGN_CHECK(!prompts.empty(), "no prompts");
  std::size_t longest = static_cast<std::size_t>(std::max<std::int64_t>(0, min_length));
  for (const auto& p : prompts) longest = std::max(longest, p.size());
  const auto B = static_cast<std::int64_t>(prompts.size());
  const auto P = static_cast<std::int64_t>(longest);
  at::Tensor ids = at::full({B, P}, pad_id, at::TensorOptions().dtype(at::kLong));
  at::Tensor mask = at::zeros({B, P}, at::TensorOptions().dtype(at::kLong));
  auto ids_a = ids.accessor<std::int64_t, 2>();
  auto mask_a = mask.accessor<std::int64_t, 2>();
  for (std::int64_t b = 0; b < B; ++b) {
    const auto& p = prompts[static_cast<std::size_t>(b)];
    INFALIGN_CHECK(!p.empty(), "prompt {} is empty; every prompt needs at least one token", b);
    const auto offset = P - static_cast<std::int64_t>(p.size());
    for (std::size_t i = 0; i < p.size(); ++i) {
      ids_a[b][offset + static_cast<std::int64_t>(i)] = p[i];
      mask_a[b][offset + static_cast<std::int64_t>(i)] = 1;
    }
  }
  return {ids.to(device), mask.to(device)};
}

std::vector<std::vector<std::int64_t>> response_tokens(const GenerationResult& result,
                                                       std::int64_t eos_id) {
  const at::Tensor ids = result.response_ids.cpu().contiguous();
  const at::Tensor lengths = result.response_lengths.cpu().contiguous();
  std::vector<std::vector<std::int64_t>> out(static_cast<std::size_t>(ids.size(0)));
  for (std::int64_t b = 0; b < ids.size(0); ++b) {
    const std::int64_t* row = ids.data_ptr<std::int64_t>() + b * ids.size(1);
    const std::int64_t n = lengths.data_ptr<std::int64_t>()[b];
    for (std::int64_t t = 0; t < n; ++t) {
      if (row[t] != eos_id) out[static_cast<std::size_t>(b)].push_back(row[t]);
    }
  }
  return out;
}

namespace {

GenerationResult generate_inference(model::CausalLm& model,
                                    const std::vector<std::vector<std::int64_t>>& prompts,
                                    const GenerationOptions& options, at::Generator generator) {
  c10::InferenceMode inference;
  INFALIGN_CHECK(options.max_new_tokens >= 1, "max_new_tokens must be >= 1; got {}",
                 options.max_new_tokens);
  const at::Tensor first_parameter = model->parameters().front();
  const c10::Device device = first_parameter.device();
  auto [prompt_ids, prompt_mask] =
      left_pad(prompts, options.pad_id, device, options.min_prompt_length);
  const auto B = prompt_ids.size(0), P = prompt_ids.size(1);
  INFALIGN_CHECK(P + options.max_new_tokens <= model->config().max_position_embeddings,
                 "prompt length {} + max_new_tokens {} exceeds max_position_embeddings {}", P,
                 options.max_new_tokens, model->config().max_position_embeddings);

  const auto long_options = at::TensorOptions().dtype(at::kLong).device(device);
  std::optional<model::KvCache> cache;
  if (options.use_kv_cache) {
    cache.emplace(model->config(), B, P + options.max_new_tokens,
                  at::TensorOptions().dtype(first_parameter.scalar_type()).device(device));
  }
  model::KvCache* cache_ptr = cache ? &*cache : nullptr;

  // Prefill: only the last position's logits are needed.
  at::Tensor mask = prompt_mask;
  at::Tensor positions = model::position_ids_from_mask(prompt_mask);
  at::Tensor sequence = prompt_ids;
  at::Tensor hidden = model->backbone()->forward({prompt_ids, mask, positions}, cache_ptr);
  at::Tensor next_logits = model->logits(hidden.narrow(1, P - 1, 1)).squeeze(1);
  at::Tensor last_position = positions.select(1, P - 1);

  // Rows still generating, as indices into the batch: once enough rows have finished they are
  // dropped from every per-row tensor and from the cache, so later steps compute only the rows
  // that still generate.
  at::Tensor rows = at::arange(B, long_options);
  at::Tensor finished = at::zeros({B}, long_options.dtype(at::kBool));  // of `rows`
  std::vector<at::Tensor> ids_steps, mask_steps, logprob_steps;
  INFALIGN_CHECK(
      options.row_seeds.empty() || static_cast<std::int64_t>(options.row_seeds.size()) == B,
      "generate: {} row seeds for {} prompts", options.row_seeds.size(), B);
  std::vector<SplitMix64> streams(options.row_seeds.begin(), options.row_seeds.end());
  at::Tensor rows_cpu = rows.cpu();
  // The uniforms of the rows still in the batch: from each row's own stream, or the shared
  // generator's draw for the whole batch (so dropping rows never changes another row's draw).
  auto next_uniforms = [&]() {
    const auto n = rows_cpu.size(0);
    if (streams.empty()) {
      const at::Tensor u = generator_uniforms(B, generator);
      return n == B ? u : u.index_select(0, rows_cpu);
    }
    at::Tensor u = at::empty({n}, at::TensorOptions().dtype(at::kDouble));
    double* data = u.data_ptr<double>();
    const std::int64_t* index = rows_cpu.data_ptr<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i) {
      data[i] = streams[static_cast<std::size_t>(index[i])].uniform();
    }
    return u;
  };
  // A step's [rows] values placed into a [B] tensor whose other rows hold `fill`.
  auto whole_batch = [&](const at::Tensor& values, const at::Scalar& fill) {
    if (values.size(0) == B) return values;
    return at::full({B}, fill, values.options()).index_copy_(0, rows, values);
  };
  std::int64_t decoded_rows = 0;
  // The batch shrinks in steps of an eighth of its rows, so a run meets at most eight shapes a
  // batch size (see GenerationOptions::drop_finished_rows).
  const std::int64_t bucket = std::max<std::int64_t>(1, B / 8);
  for (std::int64_t step = 0; step < options.max_new_tokens; ++step) {
    Sample s = sample_tokens(next_logits, options.sampling, next_uniforms());
    const at::Tensor active = finished.logical_not();
    const at::Tensor ids = at::where(active, s.ids, at::full_like(s.ids, options.pad_id));
    at::Tensor fed_mask = active.to(at::kLong);
    ids_steps.push_back(whole_batch(ids, options.pad_id));
    mask_steps.push_back(whole_batch(fed_mask, 0));
    logprob_steps.push_back(
        whole_batch(at::where(active, s.logprobs, at::zeros_like(s.logprobs)), 0.0));
    std::int64_t done = 0;
    if (options.eos_id >= 0) {
      const at::Tensor hit_eos = active & (ids == options.eos_id);
      finished = finished | hit_eos;
      done = finished.sum().item<std::int64_t>();
    }
    if (step + 1 == options.max_new_tokens || done == rows.size(0)) break;
    at::Tensor fed = ids;
    const std::int64_t current = rows.size(0);
    const std::int64_t target = std::min(current, (current - done + bucket - 1) / bucket * bucket);
    if (options.drop_finished_rows && target < current) {
      // Keep the rows still generating and, to fill the bucket, the first finished ones (they
      // go on feeding padding that nothing attends to).
      at::Tensor keep_mask = finished.logical_not().cpu();
      bool* kept = keep_mask.data_ptr<bool>();
      for (std::int64_t i = 0, extra = target - (current - done); extra > 0; ++i) {
        if (!kept[i]) {
          kept[i] = true;
          --extra;
        }
      }
      const at::Tensor keep = keep_mask.nonzero().squeeze(1).to(device);
      rows = rows.index_select(0, keep);
      finished = finished.index_select(0, keep);
      fed = fed.index_select(0, keep);
      fed_mask = fed_mask.index_select(0, keep);
      mask = mask.index_select(0, keep);
      last_position = last_position.index_select(0, keep);
      rows_cpu = rows.cpu();
      if (cache_ptr != nullptr) {
        cache_ptr->keep_rows(keep);
      } else {
        sequence = sequence.index_select(0, keep);
      }
    }
    // Feed the new token: finished rows still in the batch feed padding that no later position
    // attends to.
    mask = at::cat({mask, fed_mask.unsqueeze(1)}, 1);
    last_position = last_position + 1;
    decoded_rows += fed.size(0);
    if (cache_ptr != nullptr) {
      hidden = model->backbone()->forward({fed.unsqueeze(1), mask, last_position.unsqueeze(1)},
                                          cache_ptr);
      next_logits = model->logits(hidden).squeeze(1);
    } else {
      sequence = at::cat({sequence, fed.unsqueeze(1)}, 1);
      hidden = model->backbone()->forward({sequence, mask, model::position_ids_from_mask(mask)});
      next_logits = model->logits(hidden.narrow(1, hidden.size(1) - 1, 1)).squeeze(1);
    }
  }

  GenerationResult r;
  r.prompt_ids = prompt_ids;
  r.prompt_mask = prompt_mask;
  r.response_ids = at::stack(ids_steps, 1);
  r.response_mask = at::stack(mask_steps, 1);
  r.logprobs = at::stack(logprob_steps, 1);
  // A row ended with EOS when it sampled EOS while it was still generating.
  r.ended_with_eos =
      options.eos_id >= 0
          ? (r.response_ids == options.eos_id).logical_and(r.response_mask != 0).any(1)
          : at::zeros({B}, long_options.dtype(at::kBool));
  r.response_lengths = r.response_mask.sum(1);
  r.generated_tokens = r.response_lengths.sum().item<std::int64_t>();
  r.decoded_rows = decoded_rows;
  return r;
}

}  // namespace

GenerationResult generate(model::CausalLm& model,
                          const std::vector<std::vector<std::int64_t>>& prompts,
                          const GenerationOptions& options, at::Generator generator) {
  GenerationResult r = generate_inference(model, prompts, options, std::move(generator));
  // Inference tensors cannot enter autograd later (PPO gathers with these ids); the outputs are
  // small, so hand back ordinary copies.
  for (at::Tensor* t : {&r.prompt_ids, &r.prompt_mask, &r.response_ids, &r.response_mask,
                        &r.logprobs, &r.ended_with_eos, &r.response_lengths}) {
    *t = t->clone();
  }
  return r;
}

GenerationOptions options_from_config(const config::GenerationConfig& g, std::int64_t eos_id,
                                      std::int64_t pad_id) {
  GenerationOptions o;
  o.max_new_tokens = g.max_new_tokens;
  o.sampling = {g.temperature, g.top_k, g.top_p};
  o.use_kv_cache = g.use_kv_cache;
  o.drop_finished_rows = g.drop_finished_rows;
  o.eos_id = eos_id;
  o.pad_id = pad_id;
  return o;
}

SamplingModel::SamplingModel(model::CausalLm model, config::DType dtype)
    : model_(std::move(model)) {
  if (dtype == config::DType::Float32) return;
  const at::Tensor first = model_->parameters().front();
  {
    // Built in the copy's dtype without random values: sync() fills it.
    const model::UninitialisedParameters uninitialised(runtime::to_scalar_type(dtype));
    copy_ = model::CausalLm(model_->config());
  }
  copy_->to(first.device());
  copy_->eval();
  sync();
}

void SamplingModel::sync() {
  if (!copy_) return;
  c10::NoGradGuard no_grad;
  // The weights as exported: LoRA adapters merged (one at a time), so the copy is a plain model.
  auto dst = copy_->named_parameters(true);
  std::size_t copied = 0;
  model::for_each_hf_weight(*model_, [&](const std::string& name, const at::Tensor& value) {
    at::Tensor* d = dst.find(name);
    INFALIGN_CHECK(d != nullptr, "sampling copy lacks parameter '{}'", name);
    d->copy_(value);
    ++copied;
  });
  INFALIGN_CHECK(copied == dst.size(), "sampling copy: {} parameters, model has {}", dst.size(),
                 copied);
}

at::Tensor token_logprobs(const at::Tensor& logits, const at::Tensor& ids, double temperature) {
  return model::fused::softmax_stats(logits, ids, temperature).logp;
}

at::Tensor kl_k1(const at::Tensor& logp, const at::Tensor& ref_logp, const at::Tensor& mask) {
  return (logp - ref_logp) * mask.to(logp.scalar_type());
}

at::Tensor kl_k3(const at::Tensor& logp, const at::Tensor& ref_logp, const at::Tensor& mask) {
  const at::Tensor l = (ref_logp - logp).clamp(-20.0, 20.0);  // log(pi_ref / pi)
  return (at::expm1(l) - l) * mask.to(logp.scalar_type());
}

at::Tensor response_logits(model::CausalLm& lm, const at::Tensor& input_ids, const at::Tensor& mask,
                           const at::Tensor& positions, std::int64_t prompt_length,
                           std::int64_t response_length, config::DType dtype) {
  at::Tensor logits;
  {
    const runtime::AutocastGuard autocast(input_ids.device(), dtype);
    const at::Tensor hidden = lm->backbone()->forward({input_ids, mask, positions});
    // The logits that predict response token t sit at position P - 1 + t.
    logits = lm->logits(hidden.narrow(1, prompt_length - 1, response_length));
  }
  return logits.to(at::kFloat);
}

}  // namespace infalign::generation
