// What `infalign-eval` measures, and its outputs: results.json (every number, with intervals
// and the config hash), results.csv (one row per policy, judge, procedure and N), the console
// table, and the side-by-side table of `infalign-eval compare`. Torch-free.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "infalign/eval/winrate.h"
#include "infalign/theory/transform.h"

namespace infalign::eval {

// Win rates at one N (N = 1: both are the standard win rate).
struct WinRateRow {
  std::int64_t n = 1;
  Estimate best, worst;  // best-of-N and worst-of-N win rate against the base, with intervals
  // The same per prompt, in prompt order, for paired comparisons (empty in files of versions
  // that did not write them).
  std::vector<double> best_per_prompt, worst_per_prompt;
};

// The calibrated rewards u of one model's samples under one judge (frontier.h).
struct UStats {
  std::vector<double> histogram;  // fraction of samples in 10 bins of u over [0, 1]
  double mean_u = 0;
  Estimate u_kl;                        // KL(p_u || Uniform): mean, bootstrap sd and interval
  std::optional<double> kl_efficiency;  // u_kl / kl_k1 (policies with kl_k1 > 0.005)
};

// A policy's win rate against its transform's oracle at the policy's measured KL:
// fraction = (win - 0.5) / (oracle win - 0.5), with a bootstrap interval over prompts (policy
// and oracle faced the same opponents, so prompts are resampled jointly).
struct GainRow {
  std::int64_t n = 1;
  bool best = true;  // best-of-N (N = 1: standard) or worst-of-N
  double win = 0, oracle_win = 0;
  std::optional<Estimate> fraction;  // none when the oracle gains under 0.005 over the base
};
struct OracleGain {
  std::string transform;  // the oracle's transform spec ("exp:12.63")
  double kl = 0, beta = 0;
  std::vector<GainRow> rows;
  std::string note;  // why there are no rows, if there are none
};

// One judge's verdict on one policy.
struct JudgeResult {
  std::string judge;                      // "reward_model" or "gold"
  double policy_mean = 0, base_mean = 0;  // mean judge score of the samples
  std::vector<WinRateRow> rows;
  std::optional<UStats> u;           // with a calibration set (eval.calibration_samples > 0)
  std::optional<OracleGain> oracle;  // with the oracle and a known training transform
};

// One transform's oracle curve under one judge (frontier.h): win rates at each KL point.
struct OracleCurvePoint {
  double target_kl = 0, beta = 0, kl = 0;
  std::vector<Estimate> best, worst;  // per N of OracleReport::n (mean and se over prompts)
};
struct OracleCurve {
  std::string judge, transform, label;  // label: e.g. "exp(t=12.63, normalised)"
  double max_kl = 0;                    // the largest KL the candidates reach (mean log M)
  std::vector<OracleCurvePoint> points;
};
struct OracleReport {
  std::int64_t calibration_samples = 0, candidates = 0, opponents = 0;
  std::vector<std::int64_t> n;
  std::vector<OracleCurve> curves;
};

// The calibrated-space frontier of the policy's transform (theory module): the win rates the
// RLHF optimum for that transform reaches at each KL, for the reward-model judge.
struct TheoryCurve {
  std::string transform;                   // e.g. "exp(t=12.63, normalised)"
  std::vector<double> kl;                  // increasing
  std::vector<std::int64_t> n;             // the eval's N
  std::vector<std::vector<double>> best;   // best[i_n][i_kl]
  std::vector<std::vector<double>> worst;  // worst[i_n][i_kl]
};

// The curve at `points` KL values log-spaced from 0.01 to `max_kl` (fewer when the transform's
// grid cannot reach that far).
TheoryCurve theory_curve(const theory::Transform& phi, const std::vector<std::int64_t>& ns,
                         double max_kl, int points);

struct SampleStats {
  double mean_length = 0;  // response tokens, EOS included
  double eos_rate = 0;     // fraction of responses that ended with EOS
};

struct PolicyResult {
  std::string name, path;
  std::string transform;  // "" when unknown (no resolved config next to the weights) or raw
  Estimate kl_k1, kl_k3;  // KL(policy || base) per sequence: mean and standard error
  std::vector<double> kl_k1_per_prompt;  // mean k1 of each prompt's samples (may be empty)
  SampleStats stats;
  std::vector<JudgeResult> judges;
  std::optional<TheoryCurve> theory;
};

struct EvalResults {
  std::string version, config_hash, base_path, prompts_file;
  std::int64_t prompts = 0, samples_per_prompt = 0, bootstrap_resamples = 0;
  std::int64_t calibration_samples = 0;  // per prompt; 0: no u
  double confidence = 0.95, temperature = 1.0;
  std::uint64_t seed = 0;
  // sha256 of the prompts and of every judge's scores of the base samples the policies faced:
  // two evaluations with the same key measured their policies against the same opponents on
  // the same prompts, so their per-prompt win rates pair ("" in files of older versions).
  std::string pairing_key;
  SampleStats base_stats;
  std::vector<std::pair<std::string, UStats>> base_u;  // per judge: u of the base's own samples
  std::vector<PolicyResult> policies;
  std::optional<OracleReport> oracle;
  double seconds = 0, samples_per_second = 0;
};

std::string results_json(const EvalResults& r);
// oracle.json: the oracle report with what identifies the evaluation (prompts, seed, config).
std::string oracle_json(const EvalResults& r);
// oracle.csv: one row per judge, transform, KL point, procedure and N.
std::string oracle_csv(const OracleReport& o);
// Parses results.json; a missing key or wrong type is a DataError naming `file` and the key.
EvalResults parse_results(const std::string& text, const std::string& file);
std::string results_csv(const EvalResults& r);
// The console table: per policy and judge, N rows with best-of-N and worst-of-N win rates and
// intervals; then KL, length and EOS rate.
std::string results_table(const EvalResults& r);

// Side by side: every (policy, judge, procedure, N) and the KL of each results file; the first
// column is the reference, later columns show their difference to it. Where a column and the
// first share a pairing key (the same prompts and base samples, e.g. two policies of one
// evaluation) the difference gets a paired bootstrap interval over prompts and '*' when that
// interval excludes 0; otherwise '*' marks intervals that do not overlap.
std::string compare_table(const std::vector<std::pair<std::string, EvalResults>>& runs);

}  // namespace infalign::eval
