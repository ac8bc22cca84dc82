#include "infalign/core/progress.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

#include "infalign/core/logging.h"
#include "infalign/core/strings.h"
#include "infalign/core/timer.h"

namespace infalign {

Progress::Progress(std::int64_t total, ProgressOptions options, Clock clock, Sink sink)
    : total_(total),
      options_(std::move(options)),
      clock_(std::move(clock)),
      sink_(std::move(sink)) {
  if (!clock_) clock_ = monotonic_seconds;
  interactive_ = options_.interactive.value_or(::isatty(STDERR_FILENO) == 1);
  if (!sink_) {
    sink_ = [](const std::string& line, bool in_place) {
      if (in_place) {
        std::fprintf(stderr, "\r\033[2K%s", line.c_str());
        std::fflush(stderr);
      } else {
        log::info("{}", line);
      }
    };
  }
  start_ = clock_();
}

Progress::~Progress() {
  // A loop left by an exception: clear the in-place line so the error starts on a clean one.
  if (!finished_ && interactive_ && last_print_ >= 0) sink_("", true);
}

std::string Progress::render(std::int64_t done, double elapsed_seconds,
                             const std::vector<std::pair<std::string, std::string>>& fields) const {
  std::string line = fmt::format("[{}] {} {}/{}", options_.tag, options_.unit, done, total_);
  for (const auto& [name, value] : fields) line += fmt::format(" | {} {}", name, value);
  const std::int64_t fresh = done - options_.already_done;
  if (fresh > 0 && elapsed_seconds > 0) {
    const double per_second = static_cast<double>(fresh) / elapsed_seconds;
    if (per_second >= 1.0) {
      line += fmt::format(" | {:.1f} {}/s", per_second, options_.unit);
    } else {
      line += fmt::format(" | {:.2f} s/{}", 1.0 / per_second, options_.unit);
    }
    if (done < total_) {
      const double eta = static_cast<double>(total_ - done) / per_second;
      line += " | eta " + strings::format_duration(eta);
    } else {
      line += " | took " + strings::format_duration(elapsed_seconds);
    }
  }
  return line;
}

void Progress::update(std::int64_t done,
                      const std::vector<std::pair<std::string, std::string>>& fields) {
  done_ = done;
  fields_ = fields;
  const double now = clock_();
  const bool due = last_print_ < 0 || now - last_print_ >= options_.interval_seconds;
  if (interactive_) {
    // Redraw at most ~10 times a second.
    if (last_print_ < 0 || now - last_print_ >= 0.1) {
      sink_(render(done, now - start_, fields), true);
      last_print_ = now;
    }
  } else if (due && done < total_) {
    sink_(render(done, now - start_, fields), false);
    last_print_ = now;
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  const double now = clock_();
  // The final line goes to the log (console and train.log) in both modes.
  if (interactive_) sink_("", true);
  sink_(render(done_, now - start_, fields_), false);
}

}  // namespace infalign
