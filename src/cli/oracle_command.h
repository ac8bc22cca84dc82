// `infalign-eval oracle`: the KL-regularised optimum of reward transforms on real rewards (with
// --config: base samples of the evaluation prompts, oracle.json / oracle.csv / oracle.png), or
// on rewards drawn from U[0, 1] (--synthetic uniform: the self-check against the theory module,
// one JSON object).
#pragma once

namespace CLI {
class App;
}

namespace infalign::cli {

struct OracleCommand;
OracleCommand* add_oracle_command(CLI::App& app);
bool oracle_selected(const OracleCommand& command);
// Whether the synthetic mode was asked for (it needs no config).
bool oracle_is_synthetic(const OracleCommand& command);
int run_synthetic_oracle(const OracleCommand& command);

}  // namespace infalign::cli
