// Fused CPU kernels, with hand-written backward passes, for the memory-bound steps of the
// decoder: RMSNorm and the SwiGLU gate. Each replaces a chain of ATen operations (and their
// autograd nodes) by one pass over the rows forward and one backward, in float32 or bfloat16
// with float32 arithmetic. Tensors on other devices (CUDA), other dtypes, or with
// INFALIGN_FUSED_OPS=0 in the environment take the composite ATen path, which computes the same
// function (tests/unit/model/fused_ops_test.cpp checks values and gradients against it).
#pragma once

#include <ATen/core/Tensor.h>

namespace infalign::model::fused {

// HF LlamaRMSNorm over the last dimension: n = x * rsqrt(mean(x^2) + eps) in float32, rounded to
// x's dtype, times `weight`; the result has the promoted dtype of weight and x (as in HF).
// x [..., H] contiguous, weight [H].
at::Tensor rms_norm(const at::Tensor& x, const at::Tensor& weight, double eps);

// silu(gate) * up for gate_up = [gate | up] along the last dimension: [..., 2I] -> [..., I], in
// gate_up's dtype.
at::Tensor swiglu(const at::Tensor& gate_up);

// Whether the fused kernels serve `t` (CPU, float32 or bfloat16, enabled).
bool applies(const at::Tensor& t);

// The same functions as compositions of ATen operations (the fallback; the tests' reference).
at::Tensor rms_norm_reference(const at::Tensor& x, const at::Tensor& weight, double eps);
at::Tensor swiglu_reference(const at::Tensor& gate_up);

}  // namespace infalign::model::fused
