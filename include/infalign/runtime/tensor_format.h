// fmt support for tensor shapes, so checks can print `[2, 5, 32]`.
#pragma once

#include <cstdint>
#include <string>

#include <fmt/format.h>

#include <c10/util/ArrayRef.h>

template <>
struct fmt::formatter<c10::ArrayRef<std::int64_t>> : fmt::formatter<std::string> {
  template <class Context>
  auto format(c10::ArrayRef<std::int64_t> shape, Context& ctx) const {
    std::string text = "[";
    for (std::size_t i = 0; i < shape.size(); ++i) {
      text += (i > 0 ? ", " : "") + std::to_string(shape[i]);
    }
    return fmt::formatter<std::string>::format(text + "]", ctx);
  }
};
