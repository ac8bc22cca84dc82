// `infalign-eval theory`: the calibrated-space analytic tool (docs/method.md section 5).
#pragma once

namespace CLI {
class App;
}

namespace infalign::cli {

// Registers the subcommand on `app`; the returned callback runs it after parsing (exit code).
struct TheoryCommand;
TheoryCommand* add_theory_command(CLI::App& app);
bool theory_selected(const TheoryCommand& command);
int run_theory_command(const TheoryCommand& command);

}  // namespace infalign::cli
