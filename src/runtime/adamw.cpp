#include "infalign/runtime/adamw.h"

#include <cmath>
#include <optional>

#include <fmt/format.h>

#include <ATen/ATen.h>

#include "infalign/core/error.h"
#include "infalign/runtime/fused_optim.h"
#include "infalign/runtime/tensor_format.h"

namespace infalign::runtime {

AdamW::AdamW(std::vector<std::pair<std::string, at::Tensor>> params, AdamWOptions options)
    : params_(std::move(params)), o_(options) {
  for (const auto& [name, p] : params_) {
    exp_avg_.push_back(at::zeros_like(p, at::MemoryFormat::Contiguous));
    exp_avg_sq_.push_back(at::zeros_like(p, at::MemoryFormat::Contiguous));
  }
}

void AdamW::step(double lr) {
  at::NoGradGuard no_grad;
  ++steps_;
  const double bias1 = 1.0 - std::pow(o_.beta1, static_cast<double>(steps_));
  const double bias2 = 1.0 - std::pow(o_.beta2, static_cast<double>(steps_));
  for (std::size_t i = 0; i < params_.size(); ++i) {
    at::Tensor& p = params_[i].second;
    const at::Tensor& g = p.grad();
    if (!g.defined()) continue;
    if (fused_adamw_update(p, g, exp_avg_[i], exp_avg_sq_[i],
                           {lr, o_.beta1, o_.beta2, o_.eps, o_.weight_decay, bias1, bias2})) {
      continue;  // one pass on CPU; the same update as below
    }
    if (o_.weight_decay != 0) p.mul_(1.0 - lr * o_.weight_decay);
    exp_avg_[i].mul_(o_.beta1).add_(g, 1.0 - o_.beta1);
    exp_avg_sq_[i].mul_(o_.beta2).addcmul_(g, g, 1.0 - o_.beta2);
    const at::Tensor denom = (exp_avg_sq_[i].sqrt() / std::sqrt(bias2)).add_(o_.eps);
    p.addcdiv_(exp_avg_[i], denom, -lr / bias1);
  }
}

void AdamW::zero_grad() {
  for (auto& [name, p] : params_) {
    if (p.grad().defined()) p.mutable_grad() = at::Tensor();
  }
}

std::vector<std::pair<std::string, at::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  out.emplace_back("step", at::full({}, steps_, at::kLong));
  for (std::size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back("exp_avg." + params_[i].first, exp_avg_[i]);
    out.emplace_back("exp_avg_sq." + params_[i].first, exp_avg_sq_[i]);
  }
  return out;
}

void AdamW::load_state(const std::vector<std::pair<std::string, at::Tensor>>& state,
                       const std::string& file) {
  auto find = [&](const std::string& name, at::IntArrayRef shape) -> const at::Tensor& {
    for (const auto& [n, t] : state) {
      if (n != name) continue;
      if (t.sizes() != shape) {
        throw CheckpointError(
            fmt::format("{}: tensor '{}' has shape {}, expected {}", file, name, t.sizes(), shape));
      }
      return t;
    }
    throw CheckpointError(fmt::format("{}: missing tensor '{}'", file, name));
  };
  const std::size_t expected = 1 + 2 * params_.size();
  if (state.size() != expected) {
    throw CheckpointError(
        fmt::format("{}: holds {} tensors, expected {} (step + 2 per parameter); "
                    "was it written for another model?",
                    file, state.size(), expected));
  }
  at::NoGradGuard no_grad;
  steps_ = find("step", {}).item<std::int64_t>();
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const auto shape = params_[i].second.sizes();
    exp_avg_[i].copy_(find("exp_avg." + params_[i].first, shape));
    exp_avg_sq_[i].copy_(find("exp_avg_sq." + params_[i].first, shape));
  }
}

double clip_grad_norm(const std::vector<at::Tensor>& params, double max_norm) {
  at::NoGradGuard no_grad;
  double total = 0;
  for (const auto& p : params) {
    if (!p.grad().defined()) continue;
    const std::optional<double> fused = fused_squared_norm(p.grad());
    total += fused ? *fused : p.grad().to(at::kDouble).pow(2).sum().item<double>();
  }
  const double norm = std::sqrt(total);
  if (max_norm > 0 && norm > max_norm) {
    const double scale = max_norm / (norm + 1e-6);
    for (const auto& p : params) {
      if (p.grad().defined()) p.grad().mul_(scale);
    }
  }
  return norm;
}

}  // namespace infalign::runtime
