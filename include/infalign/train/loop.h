// The supervised stages' step (lm, reward) on the shared training loop (loop/training_loop.h):
// AdamW over one model from train.*, the LR schedule, gradient clipping, and the validation
// cadence train.eval_every_steps. A trainer only says how to compute a loss.
#pragma once

#include <cstdint>
#include <string>

#include <torch/nn/module.h>

#include "infalign/config/load.h"
#include "infalign/loop/training_loop.h"
#include "infalign/runtime/adamw.h"
#include "infalign/runtime/rng.h"

namespace infalign::runtime {
class Distributed;
}

namespace infalign::train {

// Where a trainer writes its model: train.output_dir, or <run.run_dir>/model when empty.
std::string model_output_dir(const config::ExperimentConfig& config);

class SupervisedLoop {
 public:
  // The optimizer from train.*, then the shared loop over `examples` (resumed per
  // checkpoint.resume; see loop::TrainingLoop). With `dist`, finish_step sums the gradients
  // across ranks (each rank's loss must be its share of the whole batch's).
  SupervisedLoop(const config::LoadedConfig& loaded, torch::nn::Module& model,
                 runtime::RngSet& rngs, std::int64_t examples,
                 runtime::Distributed* dist = nullptr);

  bool done() const { return loop_.done(); }
  void check_stop() { loop_.check_stop(); }
  // The learning rate of the coming step.
  double learning_rate() const;
  std::int64_t next_example() { return loop_.next_example(); }
  // Clips gradients, applies AdamW at `lr`, clears gradients and counts the step; returns the
  // gradient norm before clipping.
  double finish_step(double lr);
  // After finish_step: is this step's validation due (every train.eval_every_steps, and last)?
  bool eval_due() const { return loop_.due(loaded_.config.train.eval_every_steps); }
  bool last_step() const { return loop_.last_step(); }
  void end_step(const MetricValues& values, bool evaluated) { loop_.end_step(values, evaluated); }

  checkpoint::TrainState& state() { return loop_.state(); }
  std::int64_t step() const { return loop_.step(); }

 private:
  const config::LoadedConfig& loaded_;
  torch::nn::Module& model_;
  runtime::AdamW optimizer_;
  loop::TrainingLoop loop_;
  runtime::Distributed* dist_ = nullptr;
};

}  // namespace infalign::train
