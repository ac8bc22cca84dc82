#include "infalign/train/loop.h"

#include <ATen/ATen.h>

#include "infalign/runtime/distributed.h"
#include "infalign/runtime/schedule.h"

namespace infalign::train {

namespace {
runtime::AdamWOptions adamw_options(const config::TrainConfig& t) {
  return {t.adam_beta1, t.adam_beta2, t.adam_eps, t.weight_decay};
}
}  // namespace

std::string model_output_dir(const config::ExperimentConfig& config) {
  return config.train.output_dir.empty() ? config.run.run_dir + "/model" : config.train.output_dir;
}

SupervisedLoop::SupervisedLoop(const config::LoadedConfig& loaded, torch::nn::Module& model,
                               runtime::RngSet& rngs, std::int64_t examples,
                               runtime::Distributed* dist)
    : loaded_(loaded),
      model_(model),
      optimizer_(checkpoint::named_parameters(model), adamw_options(loaded.config.train)),
      loop_(loaded,
            {loaded.config.train.total_steps,
             loaded.config.train.log_every_steps,
             examples,
             {{"model", model, optimizer_}}},
            rngs, dist),
      dist_(dist != nullptr && dist->active() ? dist : nullptr) {}

double SupervisedLoop::learning_rate() const {
  const config::TrainConfig& t = loaded_.config.train;
  return runtime::learning_rate(loop_.step(), t.total_steps, t.warmup_steps, t.lr, t.lr_schedule,
                                t.min_lr_ratio);
}

double SupervisedLoop::finish_step(double lr) {
  if (dist_ != nullptr) dist_->sum_gradients(model_.parameters());
  const double grad_norm =
      runtime::clip_grad_norm(model_.parameters(), loaded_.config.train.max_grad_norm);
  optimizer_.step(lr);
  optimizer_.zero_grad();
  loop_.count_step();
  return grad_norm;
}

}  // namespace infalign::train
