// The memory plan: the peak memory a configured run will need on each device, term by term
// (weights, their packed copies, gradients, optimizer states, activations, KV cache, the exact-KL
// buffer, the runtime), computed from the config and the models' shapes before anything is
// loaded. `infalign-train --check` and `infalign-eval --check` print it; every run checks it and
// refuses one that will not fit. Arithmetic only: no LibTorch (docs/memory.md explains the terms
// and compares them with measured peaks).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "infalign/config/experiment_config.h"
#include "infalign/core/memory.h"
#include "infalign/model/llama_config.h"

namespace infalign::app {

struct MemoryTerm {
  std::string name;    // what it is, e.g. "policy weights (float32)"
  double bytes = 0;    // per device
  std::string shrink;  // the option(s) that shrink it; empty when none does
};

// One phase of the run: what is held through it and what it allocates on top.
struct MemoryPhase {
  std::string name;               // "update", "rollout", ...
  std::vector<MemoryTerm> terms;  // resident and transient terms of this phase
  double total() const;
  const MemoryTerm& biggest() const;  // the largest term (terms must not be empty)
};

struct MemoryPlan {
  std::string job;                  // "stage ppo", "infalign-eval", ...
  std::vector<MemoryPhase> phases;  // the peak is the largest phase
  const MemoryPhase& peak() const;
  double peak_bytes() const { return peak().total(); }
  // The plan as log lines: the peak phase's terms, largest first, then every phase's total.
  std::vector<std::string> lines() const;
};

// The shapes of the models a run loads (nullopt: not used by this run).
struct ModelShapes {
  model::LlamaConfig policy;                 // the policy / base model (stage lm: the fresh one)
  std::optional<model::LlamaConfig> reward;  // reward.kind model (or stage reward's model)
  std::optional<model::LlamaConfig> value;   // PPO with gae: the value model's backbone
};

// Parameters of a causal LM (`scalar`: a model with a one-output score head instead of lm_head).
std::int64_t parameter_count(const model::LlamaConfig& c, bool scalar = false);
// Elements of the packed weight copies a model keeps for its matmuls (q/k/v and gate/up stacked).
std::int64_t packed_weight_count(const model::LlamaConfig& c);
// Parameters LoRA adds: rank x (in + out) per targeted projection and layer.
std::int64_t lora_parameter_count(const model::LlamaConfig& c, const config::LoraConfig& lora);

// The plan of `cfg` (infalign-eval's when `for_eval`) with `world_size` processes, one device
// each. `runtime_bytes`: what the process holds before any model is loaded (LibTorch, BLAS
// buffers, CUDA context), measured by the caller.
MemoryPlan plan_memory(const config::ExperimentConfig& cfg, bool for_eval,
                       const ModelShapes& shapes, std::int64_t world_size, double runtime_bytes);

}  // namespace infalign::app
