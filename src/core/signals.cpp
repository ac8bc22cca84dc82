#include "infalign/core/signals.h"

#include <csignal>

#include "infalign/core/error.h"

namespace infalign::signals {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int signal_number) {
  if (g_stop_signal == signal_number) {
    // Second request of the same kind: the user insists, stop now with the default action.
    std::signal(signal_number, SIG_DFL);
    std::raise(signal_number);
    return;
  }
  g_stop_signal = signal_number;
}

}  // namespace

void install_stop_handlers() {
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

bool stop_requested() { return g_stop_signal != 0; }

int stop_signal() { return static_cast<int>(g_stop_signal); }

void throw_if_stop_requested() {
  if (stop_requested()) throw Interrupted(stop_signal());
}

void reset_stop_request() { g_stop_signal = 0; }

}  // namespace infalign::signals
