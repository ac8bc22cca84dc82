// `infalign-eval compare results_a.json results_b.json ...`: the side-by-side table of several
// evaluations, with differences against the first and whether the intervals overlap.
#pragma once

namespace CLI {
class App;
}

namespace infalign::cli {

struct CompareCommand;
CompareCommand* add_compare_command(CLI::App& app);
bool compare_selected(const CompareCommand& command);
int run_compare_command(const CompareCommand& command);

}  // namespace infalign::cli
