// Fused CPU kernels, with hand-written backward passes, for the memory-bound steps of the
// decoder and of PPO: RMSNorm, the SwiGLU gate, attention, and the softmax statistics of the
// logits. Each replaces a chain of ATen operations (and their autograd nodes) by one pass over
// the rows forward and one backward, in float32 or bfloat16 with float32 arithmetic. Tensors on
// other devices (CUDA), other dtypes, or with INFALIGN_FUSED_OPS=0 in the environment take the
// composite ATen path, which computes the same function (tests/unit/model/fused_ops_test.cpp
// checks values and gradients against it).
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace infalign::model::fused {

// HF LlamaRMSNorm over the last dimension: n = x * rsqrt(mean(x^2) + eps) in float32, rounded to
// x's dtype, times `weight`; the result has the promoted dtype of weight and x (as in HF).
// x [..., H] contiguous, weight [H].
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// silu(gate) * up for gate_up = [gate | up] along the last dimension: [..., 2I] -> [..., I], in
// gate_up's dtype.
at::Tensor swiglu(const at::Tensor& gate_up);

// Shapes of a grouped-query attention over a whole sequence (no KV cache).
struct AttentionShape {
  std::int64_t batch = 0, length = 0, heads = 0, kv_heads = 0, head_dim = 0;
};

// Causal grouped-query self-attention with rotary embeddings, from the stacked projection to the
// merged heads: qkv [B * T, (heads + 2 kv_heads) * d] (q rows already scaled by 1/sqrt(d)),
// cos / sin_signed [B, T, 1, d] (HF rotate_half layout, sin negated on the first half), bias
// additive float32 broadcastable to [B, heads, T, T]; returns [B * T, heads * d]. Query head h
// reads key/value head h / (heads / kv_heads). The matrix products run in the autocast dtype
// when CPU autocast is on (as at::bmm would), the softmax in float32; the backward pass writes
// the gradient of qkv in one tensor.
at::Tensor attention(const at::Tensor& qkv, const at::Tensor& cos, const at::Tensor& sin_signed,
                     const at::Tensor& bias, const AttentionShape& shape);

// Statistics of p = softmax(logits / temperature) over the last dimension at each position, the
// quantities PPO reads from a policy's logits. The kernel makes one pass over a row forward and
// one backward (ATen needs a log_softmax per statistic and a chain of element-wise operations
// over [rows, vocabulary] tensors around each).
struct SoftmaxStats {
  at::Tensor logp;     // log p(ids), float32 [...]; undefined without ids
  at::Tensor entropy;  // -sum p log p, float32 [...]
  at::Tensor kl;       // sum p (log p - ref_logsoftmax), float32 [...]; undefined without it
};
// logits [..., V]; ids [...] (int64 in [0, V)) or undefined; ref_logsoftmax [..., V] (a
// reference distribution's log-softmax) or undefined. Differentiable in `logits`; the reference
// is a constant (when it requires a gradient, the ATen composition serves the call).
SoftmaxStats softmax_stats(const at::Tensor& logits, const at::Tensor& ids, double temperature,
                           const at::Tensor& ref_logsoftmax = at::Tensor());

// log_softmax(logits / temperature) over the last dimension, float32, computed as softmax_stats
// computes log p (so softmax_stats(z, ids, t, log_softmax(z, t)).kl is exactly 0). Not
// differentiable through the kernel: with a gradient to build, ATen's log_softmax serves it.
at::Tensor log_softmax(const at::Tensor& logits, double temperature);

// Whether the fused kernels serve `t` (CPU, float32 or bfloat16, enabled).
bool applies(const at::Tensor& t);

// The same functions as compositions of ATen operations (the fallback; the tests' reference).
at::Tensor rms_norm_reference(const at::Tensor& x, const at::Tensor& weight, double eps);
at::Tensor swiglu_reference(const at::Tensor& gate_up);
SoftmaxStats softmax_stats_reference(const at::Tensor& logits, const at::Tensor& ids,
                                     double temperature, const at::Tensor& ref_logsoftmax);
at::Tensor log_softmax_reference(const at::Tensor& logits, double temperature);
// x * cos + rotate_half(x) * sin as ATen operations (x [..., d]; sin_signed = (-sin, sin)).
at::Tensor apply_rope(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin_signed);
// The products, mask and softmax of grouped-query attention as ATen operations: q [B, heads, T, d]
// (rotated), k and v [B * kv_heads, S, d] (S >= T keys, e.g. a KV cache's), bias broadcastable
// to [B, heads, T, S]; returns the merged heads [B * T, heads * d]. Query head h reads key/value
// head h / (heads / kv_heads), as HF's repeat_kv, by grouping the queries instead of copying
// keys and values.
at::Tensor grouped_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                             const at::Tensor& bias, const AttentionShape& shape);
at::Tensor attention_reference(const at::Tensor& qkv, const at::Tensor& cos,
                               const at::Tensor& sin_signed, const at::Tensor& bias,
                               const AttentionShape& shape);

}  // namespace infalign::model::fused
