#include "infalign/loop/training_loop.h"

#include <csignal>
#include <cstdlib>

#include "infalign/core/error.h"
#include "infalign/core/signals.h"
#include "infalign/data/cursor.h"
#include "infalign/runtime/distributed.h"

namespace infalign::loop {

TrainingLoop::TrainingLoop(const config::LoadedConfig& loaded, LoopPlan plan, runtime::RngSet& rngs,
                           runtime::Distributed* dist)
    : loaded_(loaded),
      plan_(std::move(plan)),
      rngs_(rngs),
      manager_(loaded.config.run.run_dir, loaded.config.checkpoint.keep_last,
               loaded.config.checkpoint.keep_every),
      dist_(dist != nullptr && dist->active() ? dist : nullptr) {
  INFALIGN_CHECK(plan_.examples > 0, "no training examples");
  resumed_from_ = checkpoint::resume(loaded_, manager_, {plan_.parts, rngs_, state_});
  state_.config_hash = config::config_hash(loaded_.config);
  if (dist_ == nullptr || dist_->is_main()) {
    metrics_.emplace(loaded_.config.run.run_dir + "/metrics.jsonl", state_.step);
  }
  order_ = data::epoch_order(plan_.examples, loaded_.config.run.seed, state_.epoch,
                             loaded_.config.data.shuffle);
  wall_before_ = state_.wall_seconds;
  if (const char* v = std::getenv("INFALIGN_TEST_STOP_AFTER_STEP")) stop_after_ = std::atoll(v);
}

void TrainingLoop::save_now() {
  state_.wall_seconds = wall_seconds();
  if (dist_ != nullptr && !dist_->is_main()) return;
  checkpoint::save(loaded_, manager_, {plan_.parts, rngs_, state_});
}

void TrainingLoop::check_stop() {
  const bool asked = signals::stop_requested();
  // Every rank stops at the same step.
  if (!(dist_ != nullptr ? dist_->any(asked) : asked)) return;
  save_now();
  signals::throw_if_stop_requested();
  throw Interrupted(SIGTERM);  // another rank was signalled
}

std::int64_t TrainingLoop::next_example() {
  if (state_.position >= plan_.examples) {
    ++state_.epoch;
    state_.position = 0;
    order_ = data::epoch_order(plan_.examples, loaded_.config.run.seed, state_.epoch,
                               loaded_.config.data.shuffle);
  }
  return order_[static_cast<std::size_t>(state_.position++)];
}

bool TrainingLoop::due(std::int64_t every) const {
  return (every > 0 && state_.step % every == 0) || last_step();
}

void TrainingLoop::end_step(const MetricValues& values, bool evaluated) {
  state_.wall_seconds = wall_seconds();
  if (state_.step % plan_.log_every_steps == 0 || evaluated || last_step()) {
    if (metrics_) metrics_->write(state_.step, state_.wall_seconds, values);
  }
  if (due(loaded_.config.checkpoint.every_steps)) save_now();
  if (state_.step == stop_after_) std::raise(SIGTERM);
}

}  // namespace infalign::loop
