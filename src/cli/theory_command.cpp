#include "theory_command.h"

#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "infalign/core/error.h"
#include "infalign/theory/calibrated.h"
#include "infalign/theory/transform.h"

namespace infalign::cli {

struct TheoryCommand {
  CLI::App* sub = nullptr;
  std::string transform = "exp";
  double t = 10.0, c = 0.5, floor = 0.0;
  bool unnormalized = false;
  std::int64_t n = 4;
  double beta = 0, kl = 0;
  bool optimize_t = false;
  std::string procedure = "bon";
  bool optimal = false;
  std::string sweep_kl, sweep_beta, out;
  std::int64_t monte_carlo = 0;
  std::int64_t grid = 0;
  bool json = false;
};

TheoryCommand* add_theory_command(CLI::App& app) {
  static TheoryCommand command;  // lives as long as the parsed app
  TheoryCommand& c = command;
  c.sub = app.add_subcommand(
      "theory",
      "Calibrated-space analytics: KL and standard / best-of-N / worst-of-N win rates against the "
      "base of the RLHF policy for a transform and beta (or a KL budget), the best t for a budget, "
      "and the optimal policy (docs/method.md section 5). Needs no config or model.");
  auto* s = c.sub;
  s->add_option("--transform", c.transform,
                fmt::format("{}", fmt::join(theory::shape_names(), ", ")))
      ->capture_default_str()
      ->check(CLI::IsMember(theory::shape_names()));
  s->add_option("--t", c.t, "Sharpness of exp, negexp, logistic")->capture_default_str();
  s->add_option("--c", c.c, "Centre of logistic")->capture_default_str();
  s->add_option("--floor", c.floor, "Floor of u inside log (0 = none)")->capture_default_str();
  s->add_flag("--unnormalized", c.unnormalized,
              "Use Phi as is instead of its form mapped onto [0, 1] (beta changes meaning)");
  s->add_option("--n", c.n, "N of best-of-N / worst-of-N")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{4096}));
  auto* beta = s->add_option("--beta", c.beta, "KL coefficient beta (> 0)");
  auto* kl = s->add_option("--kl", c.kl, "Target KL: solve for the beta that reaches it");
  beta->excludes(kl);
  s->add_flag("--optimize-t", c.optimize_t,
              "Find the t of the transform (default exp for bon, negexp for won) that maximises "
              "the --procedure win rate at --kl");
  s->add_option("--procedure", c.procedure, "bon or won, for --optimize-t")
      ->capture_default_str()
      ->check(CLI::IsMember({"bon", "won"}));
  s->add_flag("--optimal", c.optimal,
              "Add the optimal best-of-N and worst-of-N policies at the same KL (ODE shooting)");
  s->add_option("--sweep-kl", c.sweep_kl, "FROM:TO:POINTS: CSV rows over KL targets (linear)");
  s->add_option("--sweep-beta", c.sweep_beta, "FROM:TO:POINTS: CSV rows over beta (log-spaced)");
  s->add_option("--out", c.out, "Write the sweep CSV here instead of standard output");
  s->add_option("--monte-carlo", c.monte_carlo,
                "Also estimate the win rates by sampling this many duels (a check)");
  s->add_option("--grid", c.grid, "Quadrature points (0 = automatic)");
  s->add_flag("--json", c.json, "Print one JSON object");
  return &c;
}

bool theory_selected(const TheoryCommand& command) {
  return command.sub != nullptr && command.sub->parsed();
}

namespace {

struct Sweep {
  double from = 0, to = 0;
  std::int64_t points = 0;
};

Sweep parse_sweep(const std::string& flag, const std::string& text) {
  std::vector<std::string> parts;
  std::istringstream in(text);
  for (std::string part; std::getline(in, part, ':');) parts.push_back(part);
  Sweep s;
  try {
    if (parts.size() != 3) throw std::invalid_argument("parts");
    s.from = std::stod(parts[0]);
    s.to = std::stod(parts[1]);
    s.points = std::stoll(parts[2]);
  } catch (const std::exception&) {
    throw UsageError(fmt::format("{} {}: expected FROM:TO:POINTS, e.g. 0.05:2:40", flag, text));
  }
  if (!(s.from > 0 && s.to > s.from && s.points >= 2)) {
    throw UsageError(fmt::format("{} {}: expected 0 < FROM < TO and POINTS >= 2", flag, text));
  }
  return s;
}

nlohmann::ordered_json point_json(const theory::TheoryPoint& p) {
  nlohmann::ordered_json j;
  j["beta"] = p.beta;
  j["kl"] = p.kl;
  j["standard"] = p.standard;
  j["bon"] = p.bon;
  j["won"] = p.won;
  return j;
}

}  // namespace

int run_theory_command(const TheoryCommand& c) {
  using theory::Procedure;
  theory::Transform phi;
  phi.shape = theory::parse_shape(c.transform);
  const Procedure procedure = c.procedure == "won" ? Procedure::WorstOfN : Procedure::BestOfN;
  if (c.optimize_t && c.sub->count("--transform") == 0) {
    phi.shape = procedure == Procedure::BestOfN ? theory::Shape::Exp : theory::Shape::NegExp;
  }
  phi.t = c.t;
  phi.c = c.c;
  phi.eps = c.floor;
  phi.normalize = !c.unnormalized;
  try {
    phi.validate();
  } catch (const Error& e) {
    throw UsageError(e.what());
  }

  const bool sweeping = !c.sweep_kl.empty() || !c.sweep_beta.empty();
  if (!c.sweep_kl.empty() && !c.sweep_beta.empty()) {
    throw UsageError("theory: give one of --sweep-kl and --sweep-beta");
  }
  if (sweeping) {
    const bool by_kl = !c.sweep_kl.empty();
    const Sweep s =
        by_kl ? parse_sweep("--sweep-kl", c.sweep_kl) : parse_sweep("--sweep-beta", c.sweep_beta);
    const theory::PhiGrid grid(phi, c.grid);
    std::ostringstream csv;
    csv << fmt::format("beta,kl,standard,bon_{0},won_{0}\n", c.n);
    for (std::int64_t i = 0; i < s.points; ++i) {
      const double f = static_cast<double>(i) / static_cast<double>(s.points - 1);
      const theory::TheoryPoint p =
          by_kl ? theory::at_kl(grid, s.from + f * (s.to - s.from), c.n)
                : theory::evaluate(grid, s.from * std::pow(s.to / s.from, f), c.n);
      csv << fmt::format("{:.8g},{:.8g},{:.8g},{:.8g},{:.8g}\n", p.beta, p.kl, p.standard, p.bon,
                         p.won);
    }
    if (c.out.empty()) {
      std::cout << csv.str() << std::flush;
    } else {
      std::ofstream file(c.out);
      file << csv.str();
      if (!file) throw Error(fmt::format("cannot write {}", c.out));
      std::cerr << fmt::format("wrote {} rows to {}\n", s.points, c.out);
    }
    return kExitOk;
  }

  const bool has_beta = c.sub->count("--beta") > 0, has_kl = c.sub->count("--kl") > 0;
  if (c.optimize_t && !has_kl) throw UsageError("theory --optimize-t needs --kl");
  if (!has_beta && !has_kl) throw UsageError("theory: give --beta or --kl (or a sweep)");
  if (has_beta && !(c.beta > 0)) throw UsageError("theory --beta: expected beta > 0");
  if (has_kl && !(c.kl > 0)) throw UsageError("theory --kl: expected KL > 0");
  if (c.optimal && !has_kl) throw UsageError("theory --optimal needs --kl");

  nlohmann::ordered_json out;
  theory::TheoryPoint point;
  if (c.optimize_t) {
    const theory::BestT best =
        theory::optimize_t(phi.shape, procedure, c.n, c.kl, phi.c, phi.normalize);
    phi.t = best.t;
    point = best.point;
  } else {
    const theory::PhiGrid grid(phi, c.grid);
    point = has_kl ? theory::at_kl(grid, c.kl, c.n) : theory::evaluate(grid, c.beta, c.n);
  }
  out["transform"] = theory::shape_name(phi.shape);
  out["t"] = phi.t;
  if (phi.shape == theory::Shape::Logistic) out["c"] = phi.c;
  if (phi.shape == theory::Shape::Log) out["floor"] = phi.eps;
  out["normalize"] = phi.normalized();
  out["n"] = c.n;
  const nlohmann::ordered_json values = point_json(point);
  for (const auto& [k, v] : values.items()) out[k] = v;
  if (c.optimize_t) out["procedure"] = c.procedure;
  if (c.optimal) {
    for (const auto p : {Procedure::BestOfN, Procedure::WorstOfN}) {
      const theory::OptimalPoint o = theory::optimal(p, c.n, c.kl);
      out["optimal"][p == Procedure::BestOfN ? "bon" : "won"] = {
          {"win", o.win}, {"beta", o.beta}, {"kl", o.kl}};
    }
  }
  if (c.monte_carlo > 0) {
    const theory::PhiGrid grid(phi, c.grid);
    const theory::Density d(grid, 1.0 / point.beta);
    const theory::MonteCarlo mc = theory::monte_carlo(d, c.n, c.monte_carlo, 12345);
    out["monte_carlo"] = {
        {"draws", c.monte_carlo}, {"standard", mc.standard}, {"bon", mc.bon}, {"won", mc.won}};
  }
  if (c.json) {
    std::cout << out.dump() << std::endl;
    return kExitOk;
  }
  std::cout << fmt::format("transform     {}\n", phi.describe());
  if (c.optimize_t) {
    std::cout << fmt::format("best t        {:.4g}  (for {}-of-{} at KL {})\n", phi.t,
                             c.procedure == "bon" ? "best" : "worst", c.n, c.kl);
  }
  std::cout << fmt::format("beta          {:.6g}\n", point.beta)
            << fmt::format("KL            {:.6f}\n", point.kl)
            << fmt::format("standard      {:.4f}\n", point.standard)
            << fmt::format("best-of-{:<5} {:.4f}\n", c.n, point.bon)
            << fmt::format("worst-of-{:<4} {:.4f}\n", c.n, point.won);
  if (c.optimal) {
    for (const char* key : {"bon", "won"}) {
      const auto& o = out["optimal"][key];
      std::cout << fmt::format(
          "optimal {}-of-{}: {:.4f} (beta* {:.5g}, the multiplier of W - "
          "beta KL)\n",
          std::string(key) == "bon" ? "best" : "worst", c.n, o["win"].get<double>(),
          o["beta"].get<double>());
    }
  }
  if (c.monte_carlo > 0) {
    const auto& m = out["monte_carlo"];
    std::cout << fmt::format(
        "monte carlo   standard {:.4f}, best-of-{} {:.4f}, worst-of-{} {:.4f} "
        "({} duels each)\n",
        m["standard"].get<double>(), c.n, m["bon"].get<double>(), c.n, m["won"].get<double>(),
        c.monte_carlo);
  }
  return kExitOk;
}

}  // namespace infalign::cli
