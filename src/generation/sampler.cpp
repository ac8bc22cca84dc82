#include "infalign/generation/sampler.h"

#include <ATen/ATen.h>

#include "infalign/core/error.h"
#include "infalign/runtime/tensor_format.h"

namespace infalign::generation {

at::Tensor sampling_probs(const at::Tensor& logits, const SamplingOptions& o) {
  INFALIGN_CHECK(logits.dim() == 2, "logits must be [B, V]; got {}", logits.sizes());
  INFALIGN_CHECK(o.temperature > 0, "temperature must be > 0; got {}", o.temperature);
  at::Tensor scaled = logits.to(at::kFloat) / o.temperature;
  const auto V = scaled.size(1);
  if (o.top_k > 0 && o.top_k < V) {
    const at::Tensor kth = std::get<0>(at::topk(scaled, o.top_k, -1)).narrow(1, o.top_k - 1, 1);
    scaled = scaled.masked_fill(scaled < kth, -std::numeric_limits<float>::infinity());
  }
  at::Tensor probs = at::softmax(scaled, -1);
  if (o.top_p < 1.0) {
    const auto sorted = at::sort(probs, -1, /*descending=*/true);
    const at::Tensor& sorted_probs = std::get<0>(sorted);
    // Keep a token while the mass before it is still below top_p (the first always stays).
    const at::Tensor before = sorted_probs.cumsum(-1) - sorted_probs;
    const at::Tensor keep_sorted = before < o.top_p;
    const at::Tensor keep =
        at::zeros_like(keep_sorted).scatter(-1, std::get<1>(sorted), keep_sorted);
    probs = probs * keep;
    probs = probs / probs.sum(-1, /*keepdim=*/true);
  }
  return probs;
}

at::Tensor draw_tokens(const at::Tensor& probs, const at::Tensor& uniforms) {
  INFALIGN_CHECK(uniforms.dim() == 1 && uniforms.size(0) == probs.size(0),
                 "uniforms must be [B] = [{}]; got {}", probs.size(0), uniforms.sizes());
  const at::Tensor cdf = probs.to(at::kDouble).cumsum(-1);
  // Scale by the total so rounding never leaves u beyond the last positive-mass token.
  const at::Tensor u = (uniforms.to(at::kDouble) * cdf.select(1, cdf.size(1) - 1)).unsqueeze(1);
  // Number of cdf entries <= u is the drawn index; a zero-probability token has the same cdf as
  // its predecessor, so u can never land on it.
  return (cdf <= u).sum(-1).clamp_max(probs.size(1) - 1);
}

namespace {

// draw_tokens as one loop over the rows: the same rule (first token whose cumulative mass, in
// double, exceeds u times the total), without a dozen tensor dispatches per decoding step.
at::Tensor draw_tokens_cpu(const at::Tensor& probs, const at::Tensor& uniforms) {
  const at::Tensor p = probs.to(at::kFloat).contiguous();
  const at::Tensor u = uniforms.to(at::kDouble).contiguous();
  const auto B = p.size(0), V = p.size(1);
  at::Tensor ids = at::empty({B}, at::TensorOptions().dtype(at::kLong));
  const float* pp = p.data_ptr<float>();
  const double* up = u.data_ptr<double>();
  std::int64_t* out = ids.data_ptr<std::int64_t>();
  for (std::int64_t b = 0; b < B; ++b) {
    const float* row = pp + b * V;
    double total = 0;
    for (std::int64_t v = 0; v < V; ++v) total += row[v];
    const double target = up[b] * total;
    double cumulative = 0;
    std::int64_t chosen = V - 1;
    for (std::int64_t v = 0; v < V; ++v) {
      cumulative += row[v];
      if (cumulative > target) {
        chosen = v;
        break;
      }
    }
    out[b] = chosen;
  }
  return ids;
}

}  // namespace

at::Tensor generator_uniforms(std::int64_t rows, at::Generator generator) {
  return at::rand({rows}, std::move(generator), at::TensorOptions().dtype(at::kDouble));
}

Sample sample_tokens(const at::Tensor& logits, const SamplingOptions& options,
                     at::Generator generator) {
  return sample_tokens(logits, options, generator_uniforms(logits.size(0), std::move(generator)));
}

Sample sample_tokens(const at::Tensor& logits, const SamplingOptions& options,
                     const at::Tensor& uniforms) {
  const at::Tensor logits32 = logits.scalar_type() == at::kFloat ? logits : logits.to(at::kFloat);
  const at::Tensor logp =
      at::log_softmax(options.temperature == 1.0 ? logits32 : logits32 / options.temperature, -1);
  // Unfiltered, the sampling distribution is exp(logp): no second softmax.
  const bool filtered =
      (options.top_k > 0 && options.top_k < logits.size(1)) || options.top_p < 1.0;
  const at::Tensor probs = filtered ? sampling_probs(logits, options) : logp.exp();
  INFALIGN_CHECK(uniforms.dim() == 1 && uniforms.size(0) == logits.size(0),
                 "sample_tokens: {} uniforms for {} rows", uniforms.numel(), logits.size(0));
  Sample s;
  if (probs.device().is_cpu()) {
    s.ids = draw_tokens_cpu(probs, uniforms);
  } else {
    s.ids = draw_tokens(probs, uniforms.to(probs.device()));
  }
  s.logprobs = logp.gather(1, s.ids.unsqueeze(1)).squeeze(1);
  return s;
}

}  // namespace infalign::generation
