// The `train` section: optimisation of the supervised trainers (stage lm and stage reward), and
// gradient checkpointing for every trainer.
#pragma once

#include <cstdint>
#include <string>

namespace infalign::config {

// Learning-rate schedule shape after warmup; a pure function of the step.
enum class LrSchedule { Constant, Linear, Cosine };

struct TrainConfig {
  // Where the trained model directory goes; "" = <run.run_dir>/model.
  std::string output_dir = "";
  // Optimizer steps to run. 0 (stage lm with model.init_from "" only): write the initialised
  // model untrained, e.g. a random model of a real model's shape.
  std::int64_t total_steps = 3000;
  // Examples per micro-batch: sequences (stage lm) or comparison groups (stage reward).
  std::int64_t batch_size = 32;
  // Micro-batches accumulated per optimizer step.
  std::int64_t grad_accum_steps = 1;
  // Peak AdamW learning rate.
  double lr = 2e-3;
  // Linear warmup steps from 0 to lr.
  std::int64_t warmup_steps = 100;
  // Shape after warmup: constant, linear or cosine.
  LrSchedule lr_schedule = LrSchedule::Cosine;
  // Final learning rate as a fraction of lr, in [0, 1].
  double min_lr_ratio = 0.1;
  // AdamW decoupled weight decay.
  double weight_decay = 0.1;
  // AdamW beta1, in [0, 1).
  double adam_beta1 = 0.9;
  // AdamW beta2, in [0, 1).
  double adam_beta2 = 0.95;
  // AdamW epsilon.
  double adam_eps = 1e-8;
  // Clip the global gradient norm to this; 0 = off.
  double max_grad_norm = 1.0;
  // Log training metrics every this many steps.
  std::int64_t log_every_steps = 10;
  // Compute validation loss every this many steps; 0 = only at the end.
  std::int64_t eval_every_steps = 250;
  // Validation batches per evaluation.
  std::int64_t eval_batches = 20;
  // Print sample continuations every this many steps; 0 = off.
  std::int64_t sample_every_steps = 500;
  // Recompute each decoder block in the backward instead of keeping its activations, for every
  // trained model (stage lm and reward; PPO's policy and value): activation memory of one block
  // instead of all, for one more forward of compute. Gradients are unchanged.
  bool gradient_checkpointing = false;
};

}  // namespace infalign::config
