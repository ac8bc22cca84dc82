// infalign-train: argument parsing and exit codes only; the work is in the library.
#include "cli_main.h"

int main(int argc, char** argv) {
  return infalign::cli::run_main(infalign::cli::Tool::Train, argc, argv);
}
