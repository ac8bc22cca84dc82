// Shared argument parsing and error-to-exit-code mapping of the two binaries.
#pragma once

namespace infalign::cli {

enum class Tool { Train, Eval };

// Parses argv, loads the config, runs the tool; returns the process exit code.
int run_main(Tool tool, int argc, char** argv);

}  // namespace infalign::cli
