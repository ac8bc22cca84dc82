// Small string helpers shared by config errors, logs and reports.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace infalign::strings {

// Levenshtein distance (insert, delete, substitute; each costs 1).
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word` when it is a plausible typo (distance <= max(1, |word| / 3)),
// else nullopt. Ties go to the first candidate.
std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates);

// `text` as one field of a tab-separated line: backslash, tab, newline and carriage return
// written as \\, \t, \n and \r, so user text (multi-line prompts) keeps the file's shape.
std::string tsv_field(std::string_view text);

std::string join(const std::vector<std::string>& parts, std::string_view separator);

// Shortest decimal text that parses back to exactly `value` ("0.1", "1e-05", "3").
std::string format_double(double value);

// "4h12m", "3m05s", "12.3s": a compact duration for ETAs.
std::string format_duration(double seconds);

}  // namespace infalign::strings
