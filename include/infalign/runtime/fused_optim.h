// Fused CPU kernels of the optimizer step: the AdamW update in one pass over a parameter and its
// state (instead of eight ATen operations), and the squared norm of a gradient in one pass.
// Each returns false / nullopt for tensors it does not serve (other devices or dtypes,
// non-contiguous, INFALIGN_FUSED_OPS=0), and the caller takes the ATen path.
#pragma once

#include <optional>

#include <ATen/core/Tensor.h>

namespace infalign::runtime {

struct AdamWScalars {
  double lr = 0, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
  double bias1 = 1, bias2 = 1;  // 1 - beta^t
};

// p *= 1 - lr wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
// p -= (lr / bias1) m / (sqrt(v) / sqrt(bias2) + eps). float32 CPU tensors, all contiguous.
bool fused_adamw_update(const at::Tensor& p, const at::Tensor& g, const at::Tensor& m,
                        const at::Tensor& v, const AdamWScalars& s);

// sum(t^2) accumulated in double, in a fixed order (float32 or bf16 CPU, contiguous).
std::optional<double> fused_squared_norm(const at::Tensor& t);

}  // namespace infalign::runtime
