// The `checkpoint` section: when to save, what to keep, and how to start.
#pragma once

#include <cstdint>
#include <string>

namespace infalign::config {

struct CheckpointConfig {
  // auto (newest complete checkpoint in run_dir, else fresh), never, or a checkpoint path.
  std::string resume = "auto";
  // Save every this many steps; 0 = only at the end and on SIGTERM/SIGINT.
  std::int64_t every_steps = 100;
  // Keep the newest this many checkpoints; older ones are deleted.
  std::int64_t keep_last = 2;
  // Also keep every checkpoint whose step is a multiple of this; 0 = off.
  std::int64_t keep_every = 0;
  // Exported model directories (stage outputs, PPO's final/) above this many bytes of weights
  // are written in shards of at most this size with model.safetensors.index.json, as
  // transformers does (its default: 5 GB); 0 = always one model.safetensors.
  std::int64_t max_shard_bytes = 5'000'000'000;
};

}  // namespace infalign::config
