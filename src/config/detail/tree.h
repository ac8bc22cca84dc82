// A YAML document as a plain tree whose every node knows its file, line and column, so values
// merged from several files (base fragments, --set) keep where they came from.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "infalign/config/load.h"

namespace infalign::config::detail {

struct Node {
  enum class Kind { Null, Scalar, Sequence, Map };
  Kind kind = Kind::Null;
  std::string text;                                   // Scalar
  std::vector<Node> items;                            // Sequence
  std::vector<std::pair<std::string, Node>> entries;  // Map, in file order
  std::vector<SourceLocation> key_locations;          // Map, one per entry
  SourceLocation where;                               // of the value

  const Node* find(std::string_view key) const;
  // Removes `key` from a map; returns whether it was there.
  bool erase(std::string_view key);
};

// Parses one YAML document. Syntax errors and duplicate keys are collected into `errors` as
// "file:line:col: message". An empty document is an empty map.
Node parse_yaml(std::string_view text, const std::string& file, std::vector<std::string>& errors);

// Deep merge: maps merge key by key (recursively); anything else in `from` replaces `into`.
void merge(Node& into, const Node& from);

// How a node reads in an error: "'abc'", "a mapping", "a list", "null".
std::string describe(const Node& node);

}  // namespace infalign::config::detail
