// Preference comparisons for Bradley-Terry reward training, labelled from a hidden gold score.
//
// Samples come in comparison groups: `prompts_per_group` consecutive prompts with
// `samples_per_prompt` base-policy continuations each. Every pair inside a group is compared,
// so one forward pass over a group's sequences trains on all of its pairs (the grouping of
// InstructGPT's reward model, which also keeps a response from being seen once per pair).
// A pair's label is a Bernoulli draw with P(a preferred) = sigmoid((g_a - g_b) / tau).
// Pairs that span two prompts are still valid comparisons here because the gold score judges
// the continuation alone; they tie the reward model's scale across prompts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace infalign::data {

struct PreferencePair {
  std::size_t chosen = 0, rejected = 0;  // indices into the sample list
  double p_chosen = 0;                   // Bradley-Terry probability of the drawn label
  bool same_prompt = false;              // both continuations of one prompt
};

struct PreferenceGroups {
  std::vector<PreferencePair> pairs;  // grouped: group g owns pairs[offsets[g], offsets[g+1])
  std::vector<std::size_t> offsets;   // size groups + 1
  std::size_t group_size = 0;         // samples per group; group g owns samples [g*size, ...)
  std::size_t groups() const { return offsets.empty() ? 0 : offsets.size() - 1; }
};

struct PreferenceOptions {
  std::int64_t samples_per_prompt = 2;
  std::int64_t prompts_per_group = 1;
  double tau = 0.1;        // label temperature
  bool drop_ties = true;   // skip pairs with equal gold scores (their label is a coin flip)
  std::uint64_t seed = 0;  // label stream; labels depend on (seed, sample order) alone
};

// `gold[i]` is the gold score of sample i; samples are laid out prompt by prompt,
// `samples_per_prompt` each. A trailing partial group (fewer prompts) is still used.
PreferenceGroups label_preferences(const std::vector<double>& gold, const PreferenceOptions& o);

// A preference pair of the user's (reward.preferences_file).
struct PreferenceRecord {
  std::string prompt, chosen, rejected;
};

// A JSONL file of {"prompt": ..., "chosen": ..., "rejected": ...} objects, one a line (other
// members ignored). Errors are DataError "<file>:<line>: ..." naming the member.
std::vector<PreferenceRecord> read_preference_pairs(const std::string& path);

// Groups for `pairs` labelled pairs laid out as samples (chosen 2i, rejected 2i+1): one pair a
// group, P(chosen) = 1.
PreferenceGroups pair_groups(std::size_t pairs);

// Spearman rank correlation (average ranks for ties); 0 when either side is constant.
double spearman(const std::vector<double>& a, const std::vector<double>& b);

}  // namespace infalign::data
