// Process exit codes of infalign-train and infalign-eval (documented in README.md).
#pragma once

namespace infalign::cli {

constexpr int kExitOk = 0;
constexpr int kExitRuntimeFailure = 1;   // I/O, numerical blow-up, unexpected exception
constexpr int kExitBadConfig = 2;        // bad usage or bad config
constexpr int kExitBadInputFile = 3;     // bad checkpoint, weights or data file
constexpr int kExitSignalBase = 128;     // + signal number: 130 SIGINT, 143 SIGTERM

}  // namespace infalign::cli
