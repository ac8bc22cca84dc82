// The one string table of each config enum, used for parsing, dumping and the "allowed values"
// list in errors, plus the text form of DeviceSpec.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "infalign/config/run_config.h"

namespace infalign::config {

// Name of an enum value as written in YAML, e.g. "negexp".
template <class E>
std::string_view enum_name(E value);
// The value named `text` (exact, case-sensitive), or nullopt.
template <class E>
std::optional<E> parse_enum(std::string_view text);
// Every name, in declaration order.
template <class E>
std::vector<std::string> enum_names();

// "auto", "cpu", "cuda" or "cuda:k".
std::string to_string(const DeviceSpec& device);
std::optional<DeviceSpec> parse_device(std::string_view text);

}  // namespace infalign::config
