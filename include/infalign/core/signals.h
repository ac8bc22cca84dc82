// SIGINT/SIGTERM as a request to stop: the handler only sets a flag; loops poll it at their next
// safe boundary, save, and throw infalign::Interrupted (exit 130/143 in main).
#pragma once

namespace infalign::signals {

// Installs the handlers (idempotent). A second signal of the same kind kills the process at once.
void install_stop_handlers();
// True once SIGINT or SIGTERM arrived.
bool stop_requested();
// The signal that asked to stop, 0 if none.
int stop_signal();
// Throws infalign::Interrupted when a stop was requested.
void throw_if_stop_requested();
// Forgets a stop request (tests).
void reset_stop_request();

}  // namespace infalign::signals
