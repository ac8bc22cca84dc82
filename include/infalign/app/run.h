// The two jobs behind the thin mains: `infalign-train` and `infalign-eval`. Each sets up the run
// directory, logging and the runtime, then runs. Both throw; src/cli maps errors to exit codes.
#pragma once

#include "infalign/config/load.h"

namespace infalign::app {

struct RunRequest {
  config::LoadedConfig loaded;
  // Validate, set up and report (runtime, BLAS, throughput, inputs) without running the job.
  bool check_only = false;
  // infalign-eval only: the oracle of the evaluation prompts alone (`infalign-eval oracle`), no
  // policies.
  bool oracle_only = false;
};

// Runs run.stage of the experiment.
void run_train(const RunRequest& request);
// Evaluates eval.policies against eval.base_model (or, with oracle_only, computes the oracle).
void run_eval(const RunRequest& request);

}  // namespace infalign::app
