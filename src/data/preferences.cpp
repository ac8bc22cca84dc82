#include "infalign/data/preferences.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "infalign/core/error.h"
#include "infalign/data/cursor.h"
#include "infalign/data/text_corpus.h"

namespace infalign::data {

std::vector<PreferenceRecord> read_preference_pairs(const std::string& path) {
  std::vector<PreferenceRecord> pairs;
  for (auto& r : read_jsonl_strings(path, {"prompt", "chosen", "rejected"},
                                    " (reward.preferences_file holds prompt, chosen, rejected)")) {
    pairs.push_back({std::move(r[0]), std::move(r[1]), std::move(r[2])});
  }
  return pairs;
}

PreferenceGroups pair_groups(std::size_t pairs) {
  PreferenceGroups g;
  g.group_size = 2;
  g.offsets.push_back(0);
  for (std::size_t i = 0; i < pairs; ++i) {
    g.pairs.push_back({2 * i, 2 * i + 1, 1.0, true});
    g.offsets.push_back(i + 1);
  }
  return g;
}

PreferenceGroups label_preferences(const std::vector<double>& gold, const PreferenceOptions& o) {
  INFALIGN_CHECK(o.samples_per_prompt >= 1 && o.prompts_per_group >= 1 && o.tau > 0,
                 "label_preferences: bad options");
  const auto per_prompt = static_cast<std::size_t>(o.samples_per_prompt);
  INFALIGN_CHECK(gold.size() % per_prompt == 0,
                 "label_preferences: sample count is not a multiple of samples_per_prompt");
  PreferenceGroups out;
  out.group_size = per_prompt * static_cast<std::size_t>(o.prompts_per_group);
  SplitMix64 rng(o.seed);
  out.offsets.push_back(0);
  for (std::size_t begin = 0; begin < gold.size(); begin += out.group_size) {
    const std::size_t end = std::min(gold.size(), begin + out.group_size);
    for (std::size_t a = begin; a < end; ++a) {
      for (std::size_t b = a + 1; b < end; ++b) {
        // One draw per pair, ties included, so dropping ties does not shift other labels.
        const double u = rng.uniform();
        if (o.drop_ties && gold[a] == gold[b]) continue;
        const double p_a = 1.0 / (1.0 + std::exp(-(gold[a] - gold[b]) / o.tau));
        const bool same = (a - begin) / per_prompt == (b - begin) / per_prompt;
        out.pairs.push_back(u < p_a ? PreferencePair{a, b, p_a, same}
                                    : PreferencePair{b, a, 1.0 - p_a, same});
      }
    }
    out.offsets.push_back(out.pairs.size());
  }
  return out;
}

namespace {

std::vector<double> ranks(const std::vector<double>& v) {
  std::vector<std::size_t> order(v.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return v[a] < v[b]; });
  std::vector<double> r(v.size());
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && v[order[j + 1]] == v[order[i]]) ++j;
    for (std::size_t k = i; k <= j; ++k) r[order[k]] = 0.5 * static_cast<double>(i + j) + 1.0;
    i = j + 1;
  }
  return r;
}

}  // namespace

double spearman(const std::vector<double>& a, const std::vector<double>& b) {
  INFALIGN_CHECK(a.size() == b.size() && a.size() > 1, "spearman needs two equal-length samples");
  const auto ra = ranks(a), rb = ranks(b);
  const double n = static_cast<double>(a.size());
  const double ma = std::accumulate(ra.begin(), ra.end(), 0.0) / n;
  const double mb = std::accumulate(rb.begin(), rb.end(), 0.0) / n;
  double sab = 0, saa = 0, sbb = 0;
  for (std::size_t i = 0; i < ra.size(); ++i) {
    sab += (ra[i] - ma) * (rb[i] - mb);
    saa += (ra[i] - ma) * (ra[i] - ma);
    sbb += (rb[i] - mb) * (rb[i] - mb);
  }
  return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 0.0;
}

}  // namespace infalign::data
