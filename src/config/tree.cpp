#include "detail/tree.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

namespace infalign::config::detail {

namespace {

SourceLocation location_of(const YAML::Mark& mark, const std::string& file) {
  // yaml-cpp marks are 0-based; messages are 1-based like compilers'.
  if (mark.line < 0) return SourceLocation{file, 0, 0};
  return SourceLocation{file, mark.line + 1, mark.column + 1};
}

// `path` is the key path of `yaml` ("ppo.kl_coef"), for messages.
Node convert(const YAML::Node& yaml, const std::string& file, const std::string& path,
             std::vector<std::string>& errors) {
  Node node;
  node.where = location_of(yaml.Mark(), file);
  switch (yaml.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      node.kind = Node::Kind::Null;
      break;
    case YAML::NodeType::Scalar:
      node.kind = Node::Kind::Scalar;
      node.text = yaml.Scalar();
      break;
    case YAML::NodeType::Sequence:
      node.kind = Node::Kind::Sequence;
      for (const auto& item : yaml) {
        node.items.push_back(
            convert(item, file, fmt::format("{}[{}]", path, node.items.size()), errors));
      }
      break;
    case YAML::NodeType::Map:
      node.kind = Node::Kind::Map;
      for (const auto& entry : yaml) {
        const SourceLocation key_where = location_of(entry.first.Mark(), file);
        if (!entry.first.IsScalar()) {
          errors.push_back(fmt::format("{}: keys must be plain names", key_where.str()));
          continue;
        }
        const std::string key = entry.first.Scalar();
        const std::string key_path = path.empty() ? key : path + "." + key;
        if (node.find(key) != nullptr) {
          errors.push_back(fmt::format("{}: {}: duplicate key (a later one would silently win)",
                                       key_where.str(), key_path));
          continue;
        }
        node.entries.emplace_back(key, convert(entry.second, file, key_path, errors));
        node.key_locations.push_back(key_where);
      }
      break;
  }
  return node;
}

}  // namespace

const Node* Node::find(std::string_view key) const {
  for (const auto& entry : entries) {
    if (entry.first == key) return &entry.second;
  }
  return nullptr;
}

bool Node::erase(std::string_view key) {
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (entries[i].first == key) {
      entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(i));
      key_locations.erase(key_locations.begin() + static_cast<std::ptrdiff_t>(i));
      return true;
    }
  }
  return false;
}

Node parse_yaml(std::string_view text, const std::string& file, std::vector<std::string>& errors) {
  YAML::Node yaml;
  try {
    yaml = YAML::Load(std::string(text));
  } catch (const YAML::ParserException& e) {
    errors.push_back(
        fmt::format("{}: YAML syntax error: {}", location_of(e.mark, file).str(), e.msg));
    Node empty;
    empty.kind = Node::Kind::Map;
    empty.where = SourceLocation{file, 0, 0};
    return empty;
  }
  Node node = convert(yaml, file, "", errors);
  if (node.kind == Node::Kind::Null) {
    node.kind = Node::Kind::Map;
    node.where = SourceLocation{file, 0, 0};
  }
  return node;
}

void merge(Node& into, const Node& from) {
  if (into.kind != Node::Kind::Map || from.kind != Node::Kind::Map) {
    into = from;
    return;
  }
  for (std::size_t i = 0; i < from.entries.size(); ++i) {
    const auto& [key, value] = from.entries[i];
    bool merged = false;
    for (std::size_t j = 0; j < into.entries.size(); ++j) {
      if (into.entries[j].first == key) {
        merge(into.entries[j].second, value);
        into.key_locations[j] = from.key_locations[i];
        merged = true;
        break;
      }
    }
    if (!merged) {
      into.entries.emplace_back(key, value);
      into.key_locations.push_back(from.key_locations[i]);
    }
  }
}

std::string describe(const Node& node) {
  switch (node.kind) {
    case Node::Kind::Null:
      return "null";
    case Node::Kind::Scalar:
      return fmt::format("'{}'", node.text);
    case Node::Kind::Sequence:
      return "a list";
    case Node::Kind::Map:
      return "a mapping";
  }
  return "?";
}

}  // namespace infalign::config::detail
