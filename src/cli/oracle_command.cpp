#include "oracle_command.h"

#include <algorithm>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "infalign/config/eval_config.h"
#include "infalign/config/names.h"
#include "infalign/config/oracle_config.h"
#include "infalign/config/transform_config.h"
#include "infalign/core/error.h"
#include "infalign/core/random.h"
#include "infalign/eval/frontier.h"
#include "infalign/theory/calibrated.h"

namespace infalign::cli {

struct OracleCommand {
  CLI::App* sub = nullptr;
  std::string synthetic;
  std::string transform = "exp";
  double t = 10.0, c = 0.5;
  double kl = 0;
  std::int64_t n = 4;
  std::int64_t prompts = 200;
  std::int64_t calibration = 0;
  std::int64_t candidates = config::EvalConfig{}.calibration_samples;
  std::int64_t opponents = config::EvalConfig{}.samples_per_prompt;
  std::int64_t samples = config::EvalConfig{}.samples_per_prompt;
  std::uint64_t seed = 1;
  bool json = false;
};

OracleCommand* add_oracle_command(CLI::App& app) {
  static OracleCommand command;  // lives as long as the parsed app
  OracleCommand& c = command;
  c.sub = app.add_subcommand(
      "oracle",
      "The KL-regularised optimum of each transform (oracle.transforms and every policy's own) "
      "on the evaluation prompts' base samples, by importance resampling: oracle.json, "
      "oracle.csv and oracle.png in eval.output_dir (with --config). With --synthetic uniform: "
      "the same code on rewards drawn from U[0, 1], one JSON object to compare with "
      "`infalign-eval theory`.");
  // --config, --set, --overlay, --check belong to the main program.
  c.sub->fallthrough();
  auto* s = c.sub;
  s->add_option("--synthetic", c.synthetic, "uniform: rewards drawn from U[0, 1]")
      ->check(CLI::IsMember({"uniform"}));
  s->add_option("--transform", c.transform,
                fmt::format("{} (synthetic mode)",
                            fmt::join(config::enum_names<config::TransformKind>(), ", ")))
      ->capture_default_str()
      ->check(CLI::IsMember(config::enum_names<config::TransformKind>()));
  s->add_option("--t", c.t, "Sharpness of exp, negexp, logistic")->capture_default_str();
  s->add_option("--c", c.c, "Centre of logistic")->capture_default_str();
  s->add_option("--kl", c.kl, "The KL at which to report the oracle (synthetic mode)");
  s->add_option("--n", c.n, "N of best-of-N / worst-of-N")->capture_default_str();
  s->add_option("--prompts", c.prompts, "Prompts")->capture_default_str();
  s->add_option("--candidates", c.candidates,
                "Candidates per prompt (M), each calibrated against the others as infalign-eval "
                "does (eval.calibration_samples)")
      ->capture_default_str();
  s->add_option("--calibration", c.calibration,
                "A separate calibration set of this many samples per prompt instead (0: each "
                "candidate against the others)")
      ->capture_default_str();
  s->add_option("--opponents", c.opponents, "Opponents per prompt")->capture_default_str();
  s->add_option("--samples", c.samples,
                "Policy samples per prompt for the u_kl check (drawn from the theory's density)")
      ->capture_default_str();
  s->add_option("--seed", c.seed, "Seed of the synthetic draws")->capture_default_str();
  s->add_flag("--json", c.json, "Print one JSON object");
  return &c;
}

bool oracle_selected(const OracleCommand& command) {
  return command.sub != nullptr && command.sub->parsed();
}

bool oracle_is_synthetic(const OracleCommand& command) { return !command.synthetic.empty(); }

int run_synthetic_oracle(const OracleCommand& c) {
  if (c.sub->count("--kl") == 0 || !(c.kl > 0)) {
    throw UsageError("oracle --synthetic: give --kl K with K > 0");
  }
  if (c.samples < 1)
    throw UsageError(fmt::format("oracle --samples: got {}, expected >= 1", c.samples));
  if (c.prompts < 1)
    throw UsageError(fmt::format("oracle --prompts: got {}, expected >= 1", c.prompts));
  if (c.candidates < 1) {
    throw UsageError(fmt::format(
        "oracle --candidates: got {}, expected at least 1 candidate per prompt", c.candidates));
  }
  if (c.calibration < 0 || (c.calibration == 0 && c.candidates < 2)) {
    throw UsageError(fmt::format(
        "oracle --calibration {} with --candidates {}: expected a separate set of >= 1, or 0 and "
        "at least 2 candidates (each calibrated against the others)",
        c.calibration, c.candidates));
  }
  if (c.n < 1 || c.opponents < c.n) {
    throw UsageError(fmt::format(
        "oracle --n {} with --opponents {}: the best/worst of N needs 1 <= N <= the opponents "
        "per prompt",
        c.n, c.opponents));
  }
  std::string spec = c.transform;
  if (c.transform == "exp" || c.transform == "negexp") spec += fmt::format(":{}", c.t);
  if (c.transform == "logistic") spec += fmt::format(":{}:{}", c.t, c.c);
  eval::OracleTransform transform;
  try {
    transform =
        eval::OracleTransform::parse(spec, c.calibration > 0 ? c.calibration : c.candidates - 1);
  } catch (const Error& e) {
    throw UsageError(e.what());
  }
  const auto samples =
      eval::synthetic_uniform_samples(c.prompts, c.calibration, c.candidates, c.opponents, c.seed);
  const eval::Oracle oracle(samples, transform, {1, c.n}, /*leave_one_out=*/c.calibration == 0);
  if (!(c.kl < oracle.max_kl())) {
    throw UsageError(fmt::format(
        "oracle --kl {}: {} candidates per prompt reach at most KL {:.4g} (log M); raise "
        "--candidates",
        c.kl, c.candidates, oracle.max_kl()));
  }
  const eval::OracleRates r = oracle.at_kl(c.kl);
  // The u_kl estimator on the same sizes: `samples` policy samples per prompt whose u has the
  // theory's density at this KL, calibrated against the prompt's calibration set (the
  // candidates, as in infalign-eval).
  theory::Transform shape;  // raw on uniform rewards is the identity on u
  if (transform.phi) shape = *transform.phi;
  shape.shape = transform.phi ? transform.phi->shape : theory::Shape::Identity;
  const theory::PhiGrid grid(shape);
  const theory::Density density(grid, 1.0 / theory::solve_beta(grid, c.kl));
  SplitMix64 rng(c.seed ^ 0x9e3779b97f4a7c15ull);
  calibration::UKlEstimator estimator;
  for (const auto& prompt : samples) {
    std::vector<double> sorted = c.calibration > 0 ? prompt.calibration : prompt.candidates;
    std::vector<double> rewards(static_cast<std::size_t>(c.samples));
    std::sort(sorted.begin(), sorted.end());
    for (double& x : rewards) x = density.quantile(rng.uniform());
    estimator.add_prompt(sorted, rewards);
  }
  const calibration::UDistribution u = estimator.finish(200, 0.95, c.seed);
  nlohmann::ordered_json out;
  out["transform"] = transform.spec();
  out["n"] = c.n;
  out["kl"] = r.kl;
  out["beta"] = r.beta;
  out["standard"] = r.best[0].mean;
  out["bon"] = r.best[1].mean;
  out["won"] = r.worst[1].mean;
  out["standard_se"] = r.best[0].se;
  out["bon_se"] = r.best[1].se;
  out["won_se"] = r.worst[1].se;
  out["u_kl"] = u.u_kl.mean;
  out["u_kl_se"] = u.u_kl.se;
  out["u_kl_samples"] = c.samples;
  out["prompts"] = c.prompts;
  out["calibration"] = c.calibration;
  out["candidates"] = c.candidates;
  out["opponents"] = c.opponents;
  out["seed"] = c.seed;
  if (c.json) {
    std::cout << out.dump() << std::endl;
    return kExitOk;
  }
  std::cout << fmt::format("transform     {} (synthetic uniform rewards)\n", transform.describe())
            << fmt::format("sizes         {} prompts x {} candidates ({}), {} opponents\n",
                           c.prompts, c.candidates,
                           c.calibration > 0
                               ? fmt::format("u from {} calibration samples", c.calibration)
                               : std::string("each calibrated against the others"),
                           c.opponents)
            << fmt::format("beta          {:.6g}\n", r.beta)
            << fmt::format("KL            {:.6f}\n", r.kl)
            << fmt::format("standard      {:.4f} +- {:.4f}\n", r.best[0].mean, r.best[0].se)
            << fmt::format("best-of-{:<5} {:.4f} +- {:.4f}\n", c.n, r.best[1].mean, r.best[1].se)
            << fmt::format("worst-of-{:<4} {:.4f} +- {:.4f}\n", c.n, r.worst[1].mean, r.worst[1].se)
            << fmt::format(
                   "u_kl          {:.4f} +- {:.4f} ({} samples per prompt from the theory's "
                   "density at KL {}, against the candidates)\n",
                   u.u_kl.mean, u.u_kl.se, c.samples, c.kl);
  return kExitOk;
}

}  // namespace infalign::cli
