#include "infalign/config/load.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "infalign/config/validate.h"
#include "infalign/core/error.h"
#include "infalign/core/fs.h"
#include "infalign/core/strings.h"

#include "detail/schema.h"
#include "detail/tree.h"

namespace infalign::config {

namespace stdfs = std::filesystem;
using detail::Node;

std::string SourceLocation::str() const {
  if (file.empty()) return "(default)";
  if (line <= 0) return file;
  return fmt::format("{}:{}:{}", file, line, column);
}

void ConfigSources::set(const std::string& key_path, SourceLocation where) {
  locations_[key_path] = std::move(where);
}

SourceLocation ConfigSources::locate(const std::string& key_path) const {
  std::string key = key_path;
  while (true) {
    if (auto it = locations_.find(key); it != locations_.end()) return it->second;
    const auto dot = key.find_last_of(".[");
    if (dot == std::string::npos) break;
    key.resize(dot);
  }
  return SourceLocation{main_file, 0, 0};
}

namespace {

// A problem found while loading, kept with its key path so all can be sorted together.
struct Problem {
  std::string key;
  std::string text;
};

class Loader {
 public:
  // Reads `path` and, first, its base fragments; returns the merged tree.
  // `included_at` is the `base:` entry naming `path` (none for the main file).
  Node load_file(const std::string& path, std::vector<std::string>& chain,
                 const SourceLocation* included_at = nullptr) {
    // A path the system cannot resolve (too long, a loop of links) keeps its own spelling; reading
    // it below then fails with an error naming it.
    std::error_code ec;
    std::string canonical = stdfs::weakly_canonical(stdfs::path(path), ec).string();
    if (ec) canonical = stdfs::path(path).lexically_normal().string();
    if (std::find(chain.begin(), chain.end(), canonical) != chain.end()) {
      std::vector<std::string> cycle;
      for (auto it = std::find(chain.begin(), chain.end(), canonical); it != chain.end(); ++it) {
        cycle.push_back(display_.at(*it));
      }
      cycle.push_back(path);
      problems_.push_back({"base", fmt::format("{}: base: inheritance cycle: {}",
                                               included_at ? included_at->str() : path,
                                               strings::join(cycle, " -> "))});
      return empty_map(path);
    }
    std::string text;
    try {
      text = fs::read_file(path);
    } catch (const Error& e) {
      if (included_at != nullptr) {
        problems_.push_back({"base", fmt::format("{}: base: {}; paths in base: are relative to "
                                                 "the including file",
                                                 included_at->str(), e.what())});
      } else {
        problems_.push_back({"", fmt::format("{} (the config file)", e.what())});
      }
      return empty_map(path);
    }
    Node node = load_text(text, path, &chain);
    files_.push_back(path);  // after its bases
    return node;
  }

  Node load_text(std::string_view text, const std::string& name, std::vector<std::string>* chain) {
    std::vector<std::string> errors;
    Node node = detail::parse_yaml(text, name, errors);
    for (auto& e : errors) problems_.push_back({"", std::move(e)});
    if (node.kind != Node::Kind::Map) {
      problems_.push_back({"", fmt::format("{}: got {} at the top level, expected a mapping of "
                                           "sections (run:, model:, ppo:, ...)",
                                           node.where.str(), detail::describe(node))});
      return empty_map(name);
    }
    Node merged = empty_map(name);
    if (const Node* base = node.find("base")) {
      std::vector<std::string> chain_here;
      if (chain == nullptr) chain = &chain_here;
      const std::string canonical = stdfs::weakly_canonical(stdfs::path(name)).string();
      display_[canonical] = name;
      chain->push_back(canonical);
      for (const Node* fragment : base_paths(*base)) {
        const stdfs::path resolved =
            (stdfs::path(name).parent_path() / fragment->text).lexically_normal();
        detail::merge(merged, load_file(resolved.string(), *chain, &fragment->where));
      }
      chain->pop_back();
      node.erase("base");
    }
    detail::merge(merged, node);
    return merged;
  }

  // Applies one `key.path=value` override to `tree`.
  void apply_override(Node& tree, const std::string& assignment) {
    const std::string origin = "--set " + assignment;
    const auto eq = assignment.find('=');
    if (eq == std::string::npos || eq == 0) {
      problems_.push_back({"", fmt::format("{}: expected key.path=value, e.g. --set "
                                           "ppo.clip_range=0.1",
                                           origin)});
      return;
    }
    const std::string key_path = assignment.substr(0, eq);
    std::vector<std::string> errors;
    Node value = detail::parse_yaml(assignment.substr(eq + 1), origin, errors);
    if (assignment.size() == eq + 1) value = Node{};  // `key=` means null
    for (auto& e : errors) problems_.push_back({key_path, std::move(e)});
    if (!errors.empty()) return;
    relocate(value, SourceLocation{origin, 0, 0});
    // Build {a: {b: value}} for a.b=value and merge it like a file.
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (true) {
      const auto dot = key_path.find('.', start);
      parts.push_back(key_path.substr(start, dot - start));
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    Node patch = std::move(value);
    for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
      Node parent = empty_map(origin);
      parent.entries.emplace_back(*it, std::move(patch));
      parent.key_locations.push_back(SourceLocation{origin, 0, 0});
      patch = std::move(parent);
    }
    detail::merge(tree, patch);
  }

  // Decodes the merged tree into `config`, recording where each field came from.
  void decode(const Node& tree, ExperimentConfig& config, ConfigSources& sources) {
    const auto& fields = detail::schema();
    const auto& sections = detail::section_names();
    for (std::size_t i = 0; i < tree.entries.size(); ++i) {
      const auto& [section, body] = tree.entries[i];
      const SourceLocation& key_where = tree.key_locations[i];
      if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
        if (skip_unknown_) {
          skipped_.push_back(section);
          continue;
        }
        std::string message = fmt::format("{}: {}: unknown section", key_where.str(), section);
        if (auto near = strings::closest_match(section, sections)) {
          message += fmt::format("; did you mean '{}'?", *near);
        } else {
          message += fmt::format("; expected one of base, {}", strings::join(sections, ", "));
        }
        problems_.push_back({section, message});
        continue;
      }
      sources.set(section, key_where);
      if (body.kind == Node::Kind::Null) continue;  // `ppo:` with nothing under it
      if (body.kind != Node::Kind::Map) {
        problems_.push_back(
            {section, fmt::format("{}: {}: got {}, expected a mapping of {} keys", body.where.str(),
                                  section, detail::describe(body), section)});
        continue;
      }
      for (std::size_t j = 0; j < body.entries.size(); ++j) {
        const auto& [key, value] = body.entries[j];
        const std::string path = section + "." + key;
        const auto field = std::find_if(fields.begin(), fields.end(),
                                        [&](const detail::Field& f) { return f.path() == path; });
        if (field == fields.end()) {
          if (skip_unknown_) {
            skipped_.push_back(path);
            continue;
          }
          problems_.push_back(
              {path, fmt::format("{}: {}: unknown key{}", body.key_locations[j].str(), path,
                                 suggestion(section, key))});
          continue;
        }
        // yaml-cpp places an empty value at the next line; its key is where the user looks.
        const SourceLocation& where =
            value.kind == Node::Kind::Null ? body.key_locations[j] : value.where;
        sources.set(path, where);
        if (auto error = field->decode(value, config)) {
          problems_.push_back({path, fmt::format("{}: {}: {}", where.str(), path, *error)});
          failed_keys_.insert(path);
        }
      }
    }
  }

  std::vector<Problem>& problems() { return problems_; }
  const std::set<std::string>& failed_keys() const { return failed_keys_; }
  std::vector<std::string>& files() { return files_; }

 private:
  static Node empty_map(const std::string& file) {
    Node node;
    node.kind = Node::Kind::Map;
    node.where = SourceLocation{file, 0, 0};
    return node;
  }

  static void relocate(Node& node, const SourceLocation& where) {
    node.where = where;
    for (auto& item : node.items) relocate(item, where);
    for (auto& entry : node.entries) relocate(entry.second, where);
    for (auto& loc : node.key_locations) loc = where;
  }

  // The scalar nodes of `base:` (one path or a list of paths).
  std::vector<const Node*> base_paths(const Node& base) {
    std::vector<const Node*> paths;
    if (base.kind == Node::Kind::Scalar) {
      paths.push_back(&base);
    } else if (base.kind == Node::Kind::Sequence) {
      for (const auto& item : base.items) {
        if (item.kind == Node::Kind::Scalar) {
          paths.push_back(&item);
        } else {
          problems_.push_back({"base", fmt::format("{}: base: got {}, expected a file path",
                                                   item.where.str(), detail::describe(item))});
        }
      }
    } else if (base.kind != Node::Kind::Null) {
      problems_.push_back({"base", fmt::format("{}: base: got {}, expected a file path or a list "
                                               "of file paths",
                                               base.where.str(), detail::describe(base))});
    }
    return paths;
  }

  // "; did you mean 'clip_range'?" for a typo, or where the key really belongs.
  static std::string suggestion(const std::string& section, const std::string& key) {
    std::vector<std::string> same_section;
    std::vector<std::string> elsewhere;
    for (const auto& f : detail::schema()) {
      if (f.section == section) {
        same_section.push_back(f.key);
      } else if (f.key == key) {
        elsewhere.push_back(f.path());
      }
    }
    if (auto near = strings::closest_match(key, same_section)) {
      return fmt::format("; did you mean '{}'?", *near);
    }
    if (!elsewhere.empty()) {
      return fmt::format("; '{}' is a key of another section: {}", key,
                         strings::join(elsewhere, ", "));
    }
    return fmt::format("; expected one of {}", strings::join(same_section, ", "));
  }

  // Records of other versions: unknown sections and keys are skipped, not errors.
  bool skip_unknown_ = false;
  std::vector<std::string> skipped_;

 public:
  void skip_unknown() { skip_unknown_ = true; }
  const std::vector<std::string>& skipped() const { return skipped_; }

 private:
  std::vector<Problem> problems_;
  std::map<std::string, std::string> display_;  // canonical path -> path as the user wrote it
  std::set<std::string> failed_keys_;
  std::vector<std::string> files_;
};

LoadedConfig finish(Loader& loader, Node tree, const std::string& main_file,
                    const std::vector<std::string>& overrides) {
  for (const auto& assignment : overrides) loader.apply_override(tree, assignment);
  LoadedConfig loaded;
  loaded.sources.main_file = main_file;
  loader.decode(tree, loaded.config, loaded.sources);
  auto& problems = loader.problems();
  for (const ConfigIssue& issue : validate_config(loaded.config, loaded.sources)) {
    // A field that failed to decode kept its default; rules about it would only add noise.
    if (loader.failed_keys().count(issue.key) > 0) continue;
    problems.push_back({issue.key, issue.str()});
  }
  if (!problems.empty()) {
    std::stable_sort(problems.begin(), problems.end(),
                     [](const Problem& a, const Problem& b) { return a.key < b.key; });
    std::vector<std::string> messages;
    for (auto& p : problems) messages.push_back(std::move(p.text));
    throw ConfigError(std::move(messages));
  }
  loaded.files = std::move(loader.files());
  return loaded;
}

}  // namespace

LoadedConfig load_experiment_config(const std::string& path,
                                    const std::vector<std::string>& overrides,
                                    const std::vector<std::string>& overlays) {
  Loader loader;
  std::vector<std::string> chain;
  Node tree = loader.load_file(path, chain);
  for (const std::string& overlay : overlays) {
    std::vector<std::string> overlay_chain;
    detail::merge(tree, loader.load_file(overlay, overlay_chain));
  }
  LoadedConfig loaded = finish(loader, std::move(tree), path, overrides);
  loaded.overlays = overlays;
  return loaded;
}

LoadedConfig load_recorded_config(const std::string& path, std::vector<std::string>* skipped) {
  Loader loader;
  loader.skip_unknown();
  std::vector<std::string> chain;
  Node tree = loader.load_file(path, chain);
  LoadedConfig loaded = finish(loader, std::move(tree), path, {});
  if (skipped != nullptr) *skipped = loader.skipped();
  return loaded;
}

LoadedConfig parse_experiment_config(std::string_view yaml, const std::string& name,
                                     const std::vector<std::string>& overrides) {
  Loader loader;
  Node tree = loader.load_text(yaml, name, nullptr);
  return finish(loader, std::move(tree), name, overrides);
}

std::string dump_config(const ExperimentConfig& config) {
  YAML::Emitter out;
  out << YAML::BeginMap;
  std::string open_section;
  for (const auto& field : detail::schema()) {
    if (field.section != open_section) {
      if (!open_section.empty()) out << YAML::EndMap;
      out << YAML::Key << field.section << YAML::Value << YAML::BeginMap;
      open_section = field.section;
    }
    out << YAML::Key << field.key << YAML::Value;
    field.emit(out, config);
  }
  if (!open_section.empty()) out << YAML::EndMap;
  out << YAML::EndMap;
  return std::string("# infalign resolved config: every field, loadable as it is.\n") +
         out.c_str() + "\n";
}

std::string config_hash(const ExperimentConfig& config) {
  return fs::sha256_hex(dump_config(config));
}

std::vector<ConfigChange> diff_configs(const ExperimentConfig& before,
                                       const ExperimentConfig& after) {
  std::vector<ConfigChange> changes;
  for (const auto& field : detail::schema()) {
    std::string old_value = field.text(before);
    std::string new_value = field.text(after);
    if (old_value != new_value) {
      changes.push_back({field.path(), std::move(old_value), std::move(new_value)});
    }
  }
  return changes;
}

std::vector<std::pair<std::string, std::string>> config_values(const ExperimentConfig& config) {
  std::vector<std::pair<std::string, std::string>> values;
  for (const auto& field : detail::schema()) values.emplace_back(field.path(), field.text(config));
  return values;
}

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  for (const auto& field : detail::schema()) keys.push_back(field.path());
  return keys;
}

}  // namespace infalign::config
