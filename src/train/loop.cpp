#include "infalign/train/loop.h"

#include <csignal>
#include <cstdlib>

#include <fmt/format.h>

#include <ATen/ATen.h>

#include "infalign/core/error.h"
#include "infalign/core/signals.h"
#include "infalign/data/cursor.h"
#include "infalign/runtime/distributed.h"
#include "infalign/runtime/schedule.h"
#include "infalign/train/checkpointing.h"

namespace infalign::train {

namespace {
runtime::AdamWOptions adamw_options(const config::TrainConfig& t) {
  return {t.adam_beta1, t.adam_beta2, t.adam_eps, t.weight_decay};
}
}  // namespace

std::string model_output_dir(const config::ExperimentConfig& config) {
  return config.train.output_dir.empty() ? config.run.run_dir + "/model" : config.train.output_dir;
}

TrainingLoop::TrainingLoop(const config::LoadedConfig& loaded, torch::nn::Module& model,
                           runtime::RngSet& rngs, std::int64_t examples, runtime::Distributed* dist)
    : loaded_(loaded),
      model_(model),
      rngs_(rngs),
      optimizer_(named_parameters(model), adamw_options(loaded.config.train)),
      manager_(loaded.config.run.run_dir, loaded.config.checkpoint.keep_last,
               loaded.config.checkpoint.keep_every),
      examples_(examples),
      dist_(dist != nullptr && dist->active() ? dist : nullptr) {
  INFALIGN_CHECK(examples > 0, "no training examples");
  resume(loaded_, manager_, {{{"model", model_, optimizer_}}, rngs_, state_});
  state_.config_hash = config::config_hash(loaded_.config);
  if (dist_ == nullptr || dist_->is_main()) {
    metrics_.emplace(loaded_.config.run.run_dir + "/metrics.jsonl", state_.step);
  }
  order_ = data::epoch_order(examples_, loaded_.config.run.seed, state_.epoch,
                             loaded_.config.data.shuffle);
  wall_before_ = state_.wall_seconds;
  if (const char* v = std::getenv("INFALIGN_TEST_STOP_AFTER_STEP")) stop_after_ = std::atoll(v);
}

void TrainingLoop::save_now() {
  state_.wall_seconds = wall_before_ + wall_.seconds();
  if (dist_ != nullptr && !dist_->is_main()) return;
  save(loaded_, manager_, {{{"model", model_, optimizer_}}, rngs_, state_});
}

void TrainingLoop::check_stop() {
  const bool asked = signals::stop_requested();
  // Every rank stops at the same step.
  if (!(dist_ != nullptr ? dist_->any(asked) : asked)) return;
  save_now();
  signals::throw_if_stop_requested();
  throw Interrupted(SIGTERM);  // another rank was signalled
}

double TrainingLoop::learning_rate() const {
  const config::TrainConfig& t = loaded_.config.train;
  return runtime::learning_rate(state_.step, t.total_steps, t.warmup_steps, t.lr, t.lr_schedule,
                                t.min_lr_ratio);
}

std::int64_t TrainingLoop::next_example() {
  if (state_.position >= examples_) {
    ++state_.epoch;
    state_.position = 0;
    order_ = data::epoch_order(examples_, loaded_.config.run.seed, state_.epoch,
                               loaded_.config.data.shuffle);
  }
  return order_[static_cast<std::size_t>(state_.position++)];
}

double TrainingLoop::finish_step(double lr) {
  if (dist_ != nullptr) dist_->sum_gradients(model_.parameters());
  const double grad_norm =
      runtime::clip_grad_norm(model_.parameters(), loaded_.config.train.max_grad_norm);
  optimizer_.step(lr);
  optimizer_.zero_grad();
  ++state_.step;
  return grad_norm;
}

bool TrainingLoop::eval_due() const {
  const auto every = loaded_.config.train.eval_every_steps;
  return (every > 0 && state_.step % every == 0) || last_step();
}

void TrainingLoop::end_step(const MetricValues& values, bool evaluated) {
  state_.wall_seconds = wall_before_ + wall_.seconds();
  if (state_.step % loaded_.config.train.log_every_steps == 0 || evaluated || last_step()) {
    if (metrics_) metrics_->write(state_.step, state_.wall_seconds, values);
  }
  const auto every = loaded_.config.checkpoint.every_steps;
  if ((every > 0 && state_.step % every == 0) || last_step()) save_now();
  if (state_.step == stop_after_) std::raise(SIGTERM);
}

}  // namespace infalign::train
