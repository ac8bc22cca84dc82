// The loop every training stage runs on (lm, reward, ppo): exact resume, the data cursor,
// periodic metrics and checkpoints, SIGINT/SIGTERM (save, then Interrupted), the wall clock
// across resumes, and the same stop step on every rank. A stage says what one step does; the
// loop says when to log, save and stop.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "infalign/checkpoint/manager.h"
#include "infalign/checkpoint/resume.h"
#include "infalign/checkpoint/train_state.h"
#include "infalign/config/load.h"
#include "infalign/core/metrics.h"
#include "infalign/core/timer.h"
#include "infalign/runtime/rng.h"

namespace infalign::runtime {
class Distributed;
}

namespace infalign::loop {

// What a stage's loop counts and keeps in its checkpoints.
struct LoopPlan {
  std::int64_t total_steps = 0;      // train.total_steps, ppo.total_steps
  std::int64_t log_every_steps = 1;  // metrics cadence
  // The items the cursor walks through, epoch after epoch, in an order derived from
  // (run.seed, epoch): training examples, comparison groups, prompts.
  std::int64_t examples = 0;
  // The models and optimizers every checkpoint holds.
  std::vector<checkpoint::TrainedPart> parts;
};

class TrainingLoop {
 public:
  // Resumes per checkpoint.resume (models, optimizers, RNG streams, state) and opens
  // metrics.jsonl (dropping records after the restored step). With `dist` over several
  // processes every rank walks the same cursor, a stop request on any rank stops all at the
  // same step, and only rank 0 writes metrics and checkpoints.
  TrainingLoop(const config::LoadedConfig& loaded, LoopPlan plan, runtime::RngSet& rngs,
               runtime::Distributed* dist = nullptr);

  // The checkpoint the loop resumed from, if any.
  const std::optional<std::string>& resumed_from() const { return resumed_from_; }
  bool done() const { return state_.step >= plan_.total_steps; }
  // At a step boundary: when a stop was requested (on any rank), saves a checkpoint and throws
  // Interrupted.
  void check_stop();
  // The next item index (advances the cursor, starting a new epoch when due).
  std::int64_t next_example();
  // Counts a finished step: its updates are applied.
  void count_step() { ++state_.step; }
  bool last_step() const { return state_.step == plan_.total_steps; }
  // Whether a cadence of `every` steps falls on this step (0: never), or it is the last one.
  bool due(std::int64_t every) const;
  // After count_step: writes the step's metrics when due (every log_every_steps, at evaluations,
  // at the last step), then saves a checkpoint when due (every checkpoint.every_steps, last).
  void end_step(const MetricValues& values, bool evaluated = false);

  checkpoint::TrainState& state() { return state_; }
  std::int64_t step() const { return state_.step; }
  // Training time so far, across resumes.
  double wall_seconds() const { return wall_before_ + wall_.seconds(); }

 private:
  void save_now();

  const config::LoadedConfig& loaded_;
  LoopPlan plan_;
  runtime::RngSet& rngs_;
  checkpoint::TrainState state_;
  checkpoint::CheckpointManager manager_;
  std::optional<std::string> resumed_from_;
  std::optional<MetricsWriter> metrics_;
  std::vector<std::int64_t> order_;
  Timer wall_;
  double wall_before_ = 0;
  std::int64_t stop_after_ = -1;  // tests: INFALIGN_TEST_STOP_AFTER_STEP raises SIGTERM there
  runtime::Distributed* dist_ = nullptr;
};

}  // namespace infalign::loop
