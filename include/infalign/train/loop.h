// The bookkeeping every supervised trainer shares, so a trainer only says how to compute a loss:
// AdamW over the model's parameters, exact resume, the data cursor, the LR schedule, clipping,
// metrics, periodic checkpoints, and SIGINT/SIGTERM (save, then Interrupted).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/nn/module.h>

#include "infalign/checkpoint/manager.h"
#include "infalign/checkpoint/train_state.h"
#include "infalign/config/load.h"
#include "infalign/core/metrics.h"
#include "infalign/core/timer.h"
#include "infalign/runtime/adamw.h"
#include "infalign/runtime/rng.h"

namespace infalign::runtime {
class Distributed;
}

namespace infalign::train {

// Where a trainer writes its model: train.output_dir, or <run.run_dir>/model when empty.
std::string model_output_dir(const config::ExperimentConfig& config);

class TrainingLoop {
 public:
  // Builds the optimizer from train.*, resumes per checkpoint.resume and opens metrics.jsonl
  // (dropping records after the restored step). `examples` is the number of training examples
  // the cursor walks through, epoch after epoch, in an order derived from (run.seed, epoch).
  // With `dist` over several processes: every rank walks the same cursor (so each knows the
  // whole batch and takes its share), gradients are summed across ranks in finish_step (each
  // rank's loss must be its share of the whole batch's), a stop request on any rank stops all,
  // and only rank 0 writes metrics and checkpoints.
  TrainingLoop(const config::LoadedConfig& loaded, torch::nn::Module& model, runtime::RngSet& rngs,
               std::int64_t examples, runtime::Distributed* dist = nullptr);

  bool done() const { return state_.step >= loaded_.config.train.total_steps; }
  // At a step boundary: when a stop was requested, saves a checkpoint and throws Interrupted.
  void check_stop();
  // The learning rate of the coming step.
  double learning_rate() const;
  // The next training example index (advances the cursor, starting a new epoch when due).
  std::int64_t next_example();
  // Clips gradients, applies AdamW at `lr`, clears gradients and counts the step; returns the
  // gradient norm before clipping.
  double finish_step(double lr);
  // After finish_step: is this step's validation due (every train.eval_every_steps, and last)?
  bool eval_due() const;
  bool last_step() const { return state_.step == loaded_.config.train.total_steps; }
  // Writes the step's metrics when due (every train.log_every_steps, at evaluations, last), then
  // saves a checkpoint when due (every checkpoint.every_steps, last).
  void end_step(const MetricValues& values, bool evaluated);

  checkpoint::TrainState& state() { return state_; }
  std::int64_t step() const { return state_.step; }

 private:
  void save_now();

  const config::LoadedConfig& loaded_;
  torch::nn::Module& model_;
  runtime::RngSet& rngs_;
  runtime::AdamW optimizer_;
  checkpoint::TrainState state_;
  checkpoint::CheckpointManager manager_;
  std::optional<MetricsWriter> metrics_;
  std::int64_t examples_;
  std::vector<std::int64_t> order_;
  Timer wall_;
  double wall_before_ = 0;
  std::int64_t stop_after_ = -1;  // tests: INFALIGN_TEST_STOP_AFTER_STEP raises SIGTERM there
  runtime::Distributed* dist_ = nullptr;
};

}  // namespace infalign::train
