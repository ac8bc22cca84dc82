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

Sample sample_tokens(const at::Tensor& logits, const SamplingOptions& options,
                     at::Generator generator) {
  const at::Tensor probs = sampling_probs(logits, options);
  const at::Tensor uniforms =
      at::rand({logits.size(0)}, generator, at::TensorOptions().dtype(at::kDouble))
          .to(logits.device());
  Sample s;
  s.ids = draw_tokens(probs, uniforms);
  const at::Tensor logp = at::log_softmax(logits.to(at::kFloat) / options.temperature, -1);
  s.logprobs = logp.gather(1, s.ids.unsqueeze(1)).squeeze(1);
  return s;
}

}  // namespace infalign::generation
