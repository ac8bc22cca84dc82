// AdamW (Loshchilov and Hutter), written out so its whole state is a set of named tensors that a
// checkpoint stores and restores exactly. Same update as torch.optim.AdamW: decoupled decay
// p *= 1 - lr * wd, then p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <ATen/core/Tensor.h>

namespace infalign::runtime {

struct AdamWOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
};

class AdamW {
 public:
  // `params`: (name, parameter) pairs; names key the saved state.
  AdamW(std::vector<std::pair<std::string, at::Tensor>> params, AdamWOptions options);

  // One update with learning rate `lr` from the parameters' .grad() (parameters without a
  // gradient are skipped, their moments untouched).
  void step(double lr);
  void zero_grad();
  std::int64_t steps() const { return steps_; }

  // exp_avg.<name>, exp_avg_sq.<name> and a scalar "step".
  std::vector<std::pair<std::string, at::Tensor>> state() const;
  // Restores state(); throws CheckpointError naming `file` and the tensor on a missing entry or
  // a shape mismatch.
  void load_state(const std::vector<std::pair<std::string, at::Tensor>>& state,
                  const std::string& file);

 private:
  std::vector<std::pair<std::string, at::Tensor>> params_;
  std::vector<at::Tensor> exp_avg_, exp_avg_sq_;
  AdamWOptions o_;
  std::int64_t steps_ = 0;
};

// Scales every gradient so their global L2 norm is at most `max_norm` (> 0); returns the norm
// before clipping.
double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm);

}  // namespace infalign::runtime
