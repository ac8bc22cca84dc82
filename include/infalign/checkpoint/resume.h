// Checkpoint save and exact resume shared by every training stage: model weights, optimizer
// moments, RNG streams, TrainState and the resolved config, per checkpoint.resume.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <torch/nn/module.h>

#include "infalign/checkpoint/manager.h"
#include "infalign/checkpoint/train_state.h"
#include "infalign/config/load.h"
#include "infalign/runtime/adamw.h"
#include "infalign/runtime/rng.h"

namespace infalign::checkpoint {

// The parameters of `module` as (HF name, tensor) pairs.
std::vector<std::pair<std::string, at::Tensor>> named_parameters(torch::nn::Module& module);

// One trained model and its optimizer. Part "model" is stored as model.safetensors and
// optimizer.safetensors; any other name N as N.safetensors and N_optimizer.safetensors.
struct TrainedPart {
  std::string name;
  torch::nn::Module& model;
  runtime::AdamW& optimizer;
};

// What a checkpoint holds for one trainer.
struct Resumable {
  std::vector<TrainedPart> parts;
  runtime::RngSet& rngs;
  TrainState& state;
};

// Restores `r` from the checkpoint checkpoint.resume selects (auto: `latest` in run.run_dir,
// never, or a path) and returns its directory, or nullopt when starting fresh. Shape-affecting
// config keys (model.*, tokenizer.*, data.seq_len) must match the checkpoint's; other changes
// are logged. Errors are CheckpointError naming the checkpoint.
std::optional<std::string> resume(const config::LoadedConfig& loaded,
                                  const CheckpointManager& manager, Resumable r);

// After a resume from `resumed_from`: the content hashes the checkpoint recorded for inputs a run
// must not silently change (reference, reward model, calibration cache) must equal `hashes`
// (CheckpointError naming the input otherwise); then `state` records `hashes`.
void verify_input_hashes(const std::optional<std::string>& resumed_from, TrainState& state,
                         const std::map<std::string, std::string>& hashes);

// Writes checkpoint r.state.step through `manager`.
std::string save(const config::LoadedConfig& loaded, CheckpointManager& manager, Resumable r);

}  // namespace infalign::checkpoint
