#include "infalign/eval/report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "infalign/core/error.h"
#include "infalign/theory/calibrated.h"

namespace infalign::eval {

namespace {

using nlohmann::json;

json to_json(const Estimate& e) {
  return {{"mean", e.mean}, {"lo", e.lo}, {"hi", e.hi}, {"se", e.se}};
}
// Per-prompt values at 1e-6, far below any interval they feed, so the files stay small.
json rounded(const std::vector<double>& values) {
  json out = json::array();
  for (const double v : values) out.push_back(std::round(v * 1e6) / 1e6);
  return out;
}

json to_json(const SampleStats& s) {
  return {{"mean_length", s.mean_length}, {"eos_rate", s.eos_rate}};
}
json to_json(const UStats& u) {
  return {{"histogram", u.histogram},
          {"mean_u", u.mean_u},
          {"u_kl", to_json(u.u_kl)},
          {"kl_efficiency", u.kl_efficiency ? json(*u.kl_efficiency) : json(nullptr)}};
}
json to_json(const OracleGain& g) {
  json rows = json::array();
  for (const GainRow& row : g.rows) {
    rows.push_back({{"n", row.n},
                    {"procedure", row.n == 1 ? "standard"
                                  : row.best ? "best_of_n"
                                             : "worst_of_n"},
                    {"win_rate", row.win},
                    {"oracle_win_rate", row.oracle_win},
                    {"fraction", row.fraction ? to_json(*row.fraction) : json(nullptr)}});
  }
  return {
      {"transform", g.transform}, {"kl", g.kl}, {"beta", g.beta}, {"rows", rows}, {"note", g.note}};
}
json to_json(const OracleReport& o) {
  json curves = json::array();
  for (const OracleCurve& c : o.curves) {
    json points = json::array();
    for (const OracleCurvePoint& p : c.points) {
      json best = json::array(), worst = json::array();
      for (const Estimate& e : p.best) best.push_back(to_json(e));
      for (const Estimate& e : p.worst) worst.push_back(to_json(e));
      points.push_back({{"target_kl", p.target_kl},
                        {"beta", p.beta},
                        {"kl", p.kl},
                        {"best_of_n", best},
                        {"worst_of_n", worst}});
    }
    curves.push_back({{"judge", c.judge},
                      {"transform", c.transform},
                      {"label", c.label},
                      {"max_kl", c.max_kl},
                      {"points", points}});
  }
  return {{"calibration_samples", o.calibration_samples},
          {"candidates", o.candidates},
          {"opponents", o.opponents},
          {"n", o.n},
          {"curves", curves}};
}

// Typed access that names the file and the key path on failure.
class Reader {
 public:
  Reader(const json& j, std::string file, std::string path)
      : j_(j), file_(std::move(file)), path_(std::move(path)) {}
  const json& at(const std::string& key) const {
    if (!j_.is_object() || !j_.contains(key)) {
      throw DataError(
          fmt::format("{}: missing key '{}{}'; expected a results.json written by "
                      "infalign-eval",
                      file_, path_.empty() ? "" : path_ + ".", key));
    }
    return j_.at(key);
  }
  bool has(const std::string& key) const {
    return j_.is_object() && j_.contains(key) && !j_.at(key).is_null();
  }
  Reader child(const std::string& key) const { return {at(key), file_, sub(key)}; }
  Reader item(const json& j, std::size_t i, const std::string& key) const {
    return {j, file_, fmt::format("{}[{}]", sub(key), i)};
  }
  template <class T>
  T get(const std::string& key) const {
    try {
      return at(key).get<T>();
    } catch (const json::exception&) {
      throw DataError(fmt::format("{}: key '{}' has the wrong type ({})", file_, sub(key),
                                  at(key).type_name()));
    }
  }
  const json& array(const std::string& key) const {
    const json& a = at(key);
    if (!a.is_array()) throw DataError(fmt::format("{}: key '{}' is not a list", file_, sub(key)));
    return a;
  }
  Estimate estimate(const std::string& key) const {
    const Reader e = child(key);
    return {e.get<double>("mean"), e.get<double>("lo"), e.get<double>("hi"), e.get<double>("se")};
  }
  SampleStats stats(const std::string& key) const {
    const Reader s = child(key);
    return {s.get<double>("mean_length"), s.get<double>("eos_rate")};
  }
  UStats u_stats(const std::string& key) const {
    const Reader u = child(key);
    UStats out;
    out.histogram = u.get<std::vector<double>>("histogram");
    out.mean_u = u.get<double>("mean_u");
    out.u_kl = u.estimate("u_kl");
    if (u.has("kl_efficiency")) out.kl_efficiency = u.get<double>("kl_efficiency");
    return out;
  }
  OracleGain gain(const std::string& key) const {
    const Reader g = child(key);
    OracleGain out;
    out.transform = g.get<std::string>("transform");
    out.kl = g.get<double>("kl");
    out.beta = g.get<double>("beta");
    out.note = g.get<std::string>("note");
    const json& rows = g.array("rows");
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Reader row = g.item(rows[i], i, "rows");
      GainRow r;
      r.n = row.get<std::int64_t>("n");
      r.best = row.get<std::string>("procedure") != "worst_of_n";
      r.win = row.get<double>("win_rate");
      r.oracle_win = row.get<double>("oracle_win_rate");
      if (row.has("fraction")) r.fraction = row.estimate("fraction");
      out.rows.push_back(r);
    }
    return out;
  }
  OracleReport oracle(const std::string& key) const {
    const Reader o = child(key);
    OracleReport out;
    out.calibration_samples = o.get<std::int64_t>("calibration_samples");
    out.candidates = o.get<std::int64_t>("candidates");
    out.opponents = o.get<std::int64_t>("opponents");
    out.n = o.get<std::vector<std::int64_t>>("n");
    const json& curves = o.array("curves");
    for (std::size_t i = 0; i < curves.size(); ++i) {
      const Reader c = o.item(curves[i], i, "curves");
      OracleCurve curve;
      curve.judge = c.get<std::string>("judge");
      curve.transform = c.get<std::string>("transform");
      curve.label = c.get<std::string>("label");
      curve.max_kl = c.get<double>("max_kl");
      const json& points = c.array("points");
      for (std::size_t k = 0; k < points.size(); ++k) {
        const Reader p = c.item(points[k], k, "points");
        OracleCurvePoint point;
        point.target_kl = p.get<double>("target_kl");
        point.beta = p.get<double>("beta");
        point.kl = p.get<double>("kl");
        for (const char* side : {"best_of_n", "worst_of_n"}) {
          const json& list = p.array(side);
          for (std::size_t q = 0; q < list.size(); ++q) {
            const Reader e = p.item(list[q], q, side);
            const Estimate est{e.get<double>("mean"), e.get<double>("lo"), e.get<double>("hi"),
                               e.get<double>("se")};
            (std::string(side) == "best_of_n" ? point.best : point.worst).push_back(est);
          }
        }
        curve.points.push_back(std::move(point));
      }
      out.curves.push_back(std::move(curve));
    }
    return out;
  }

 private:
  std::string sub(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  const json& j_;
  std::string file_, path_;
};

std::string interval(const Estimate& e) {
  return fmt::format("{:.3f} [{:.3f}, {:.3f}]", e.mean, e.lo, e.hi);
}

// The gain row of a judge result for (n, best), if any.
const GainRow* gain_row(const JudgeResult& jr, std::int64_t n, bool best) {
  if (!jr.oracle) return nullptr;
  for (const GainRow& row : jr.oracle->rows) {
    if (row.n == n && (n == 1 || row.best == best)) return &row;
  }
  return nullptr;
}

// FNV-1a of a row's name and the column: the same bootstrap draws on every platform.
std::uint64_t stable_seed(const std::string& text, std::size_t column) {
  std::uint64_t h = 1469598103934665603ULL;
  for (const unsigned char ch : text) h = (h ^ ch) * 1099511628211ULL;
  return h ^ (0x9E3779B97F4A7C15ULL * (column + 1));
}

std::string procedure_name(std::int64_t n, bool best) {
  return n == 1 ? "standard" : fmt::format("{}-of-{}", best ? "best" : "worst", n);
}

}  // namespace

TheoryCurve theory_curve(const theory::Transform& phi, const std::vector<std::int64_t>& ns,
                         double max_kl, int points) {
  TheoryCurve c;
  c.transform = phi.describe();
  c.n = ns;
  c.best.assign(ns.size(), {});
  c.worst.assign(ns.size(), {});
  const theory::PhiGrid grid(phi);
  const double lo = 0.01, hi = std::min(max_kl, 0.99 * theory::reachable_kl(grid));
  for (int i = 0; i < points && hi > lo; ++i) {
    const double kl = lo * std::pow(hi / lo, static_cast<double>(i) / (points - 1));
    const theory::Density d(grid, 1.0 / theory::solve_beta(grid, kl));
    c.kl.push_back(d.kl());
    for (std::size_t k = 0; k < ns.size(); ++k) {
      c.best[k].push_back(ns[k] == 1 ? d.standard() : d.best_of(ns[k]));
      c.worst[k].push_back(ns[k] == 1 ? d.standard() : d.worst_of(ns[k]));
    }
  }
  return c;
}

std::string results_json(const EvalResults& r) {
  json j;
  j["infalign_version"] = r.version;
  j["config_hash"] = r.config_hash;
  j["base"] = {{"path", r.base_path}, {"stats", to_json(r.base_stats)}};
  j["prompts_file"] = r.prompts_file;
  j["prompts"] = r.prompts;
  j["samples_per_prompt"] = r.samples_per_prompt;
  j["bootstrap_resamples"] = r.bootstrap_resamples;
  j["confidence"] = r.confidence;
  j["temperature"] = r.temperature;
  j["seed"] = r.seed;
  j["pairing_key"] = r.pairing_key;
  j["calibration_samples"] = r.calibration_samples;
  j["base"]["u"] = json::object();
  for (const auto& [judge, u] : r.base_u) j["base"]["u"][judge] = to_json(u);
  j["oracle"] = r.oracle ? to_json(*r.oracle) : json(nullptr);
  j["seconds"] = r.seconds;
  j["samples_per_second"] = r.samples_per_second;
  j["policies"] = json::array();
  for (const auto& p : r.policies) {
    json jp = {{"name", p.name},
               {"path", p.path},
               {"transform", p.transform},
               {"kl_k1", to_json(p.kl_k1)},
               {"kl_k3", to_json(p.kl_k3)},
               {"kl_k1_per_prompt", rounded(p.kl_k1_per_prompt)},
               {"stats", to_json(p.stats)}};
    jp["judges"] = json::array();
    for (const auto& jr : p.judges) {
      json rows = json::array();
      for (const auto& row : jr.rows) {
        rows.push_back({{"n", row.n},
                        {"best_of_n", to_json(row.best)},
                        {"worst_of_n", to_json(row.worst)},
                        {"best_of_n_per_prompt", rounded(row.best_per_prompt)},
                        {"worst_of_n_per_prompt", rounded(row.worst_per_prompt)}});
      }
      jp["judges"].push_back({{"judge", jr.judge},
                              {"policy_mean_score", jr.policy_mean},
                              {"base_mean_score", jr.base_mean},
                              {"win_rates", rows},
                              {"u", jr.u ? to_json(*jr.u) : json(nullptr)},
                              {"oracle", jr.oracle ? to_json(*jr.oracle) : json(nullptr)}});
    }
    if (p.theory) {
      jp["theory"] = {{"transform", p.theory->transform},
                      {"kl", p.theory->kl},
                      {"n", p.theory->n},
                      {"best_of_n", p.theory->best},
                      {"worst_of_n", p.theory->worst}};
    } else {
      jp["theory"] = nullptr;
    }
    j["policies"].push_back(jp);
  }
  return j.dump(2) + "\n";
}

EvalResults parse_results(const std::string& text, const std::string& file) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    throw DataError(fmt::format("{}: not valid JSON ({})", file, e.what()));
  }
  const Reader top(j, file, "");
  EvalResults r;
  r.version = top.get<std::string>("infalign_version");
  r.config_hash = top.get<std::string>("config_hash");
  r.base_path = top.child("base").get<std::string>("path");
  r.base_stats = top.child("base").stats("stats");
  r.prompts_file = top.get<std::string>("prompts_file");
  r.prompts = top.get<std::int64_t>("prompts");
  r.samples_per_prompt = top.get<std::int64_t>("samples_per_prompt");
  r.bootstrap_resamples = top.get<std::int64_t>("bootstrap_resamples");
  r.confidence = top.get<double>("confidence");
  r.temperature = top.get<double>("temperature");
  r.seed = top.get<std::uint64_t>("seed");
  if (top.has("pairing_key")) r.pairing_key = top.get<std::string>("pairing_key");
  if (top.has("calibration_samples"))
    r.calibration_samples = top.get<std::int64_t>("calibration_samples");
  if (top.child("base").has("u")) {
    const Reader u = top.child("base").child("u");
    for (const auto& [judge, value] : top.child("base").at("u").items()) {
      r.base_u.emplace_back(judge, u.u_stats(judge));
    }
  }
  if (top.has("oracle")) r.oracle = top.oracle("oracle");
  r.seconds = top.get<double>("seconds");
  r.samples_per_second = top.get<double>("samples_per_second");
  const json& policies = top.array("policies");
  for (std::size_t i = 0; i < policies.size(); ++i) {
    const Reader p = top.item(policies[i], i, "policies");
    PolicyResult pr;
    pr.name = p.get<std::string>("name");
    pr.path = p.get<std::string>("path");
    pr.transform = p.get<std::string>("transform");
    pr.kl_k1 = p.estimate("kl_k1");
    pr.kl_k3 = p.estimate("kl_k3");
    if (p.has("kl_k1_per_prompt")) {
      pr.kl_k1_per_prompt = p.get<std::vector<double>>("kl_k1_per_prompt");
    }
    pr.stats = p.stats("stats");
    const json& judges = p.array("judges");
    for (std::size_t k = 0; k < judges.size(); ++k) {
      const Reader jr = p.item(judges[k], k, "judges");
      JudgeResult out;
      out.judge = jr.get<std::string>("judge");
      out.policy_mean = jr.get<double>("policy_mean_score");
      out.base_mean = jr.get<double>("base_mean_score");
      const json& rows = jr.array("win_rates");
      for (std::size_t q = 0; q < rows.size(); ++q) {
        const Reader row = jr.item(rows[q], q, "win_rates");
        WinRateRow w{row.get<std::int64_t>("n"),
                     row.estimate("best_of_n"),
                     row.estimate("worst_of_n"),
                     {},
                     {}};
        if (row.has("best_of_n_per_prompt")) {
          w.best_per_prompt = row.get<std::vector<double>>("best_of_n_per_prompt");
          w.worst_per_prompt = row.get<std::vector<double>>("worst_of_n_per_prompt");
        }
        out.rows.push_back(std::move(w));
      }
      if (jr.has("u")) out.u = jr.u_stats("u");
      if (jr.has("oracle")) out.oracle = jr.gain("oracle");
      pr.judges.push_back(std::move(out));
    }
    if (!p.at("theory").is_null()) {
      const Reader t = p.child("theory");
      TheoryCurve c;
      c.transform = t.get<std::string>("transform");
      c.kl = t.get<std::vector<double>>("kl");
      c.n = t.get<std::vector<std::int64_t>>("n");
      c.best = t.get<std::vector<std::vector<double>>>("best_of_n");
      c.worst = t.get<std::vector<std::vector<double>>>("worst_of_n");
      pr.theory = std::move(c);
    }
    r.policies.push_back(std::move(pr));
  }
  return r;
}

std::string results_csv(const EvalResults& r) {
  std::ostringstream out;
  out << "policy,judge,procedure,n,win_rate,ci_lo,ci_hi,se,kl_k1,kl_k1_se,kl_k3,kl_k3_se,"
         "mean_length,eos_rate,u_mean,u_kl,u_kl_se,kl_efficiency,oracle_win_rate,"
         "oracle_gain_fraction,oracle_gain_lo,oracle_gain_hi\n";
  auto opt = [](bool has, double v, const char* f) {
    return has ? fmt::format(fmt::runtime(f), v) : std::string();
  };
  for (const auto& p : r.policies) {
    for (const auto& jr : p.judges) {
      for (const auto& row : jr.rows) {
        for (const bool best : {true, false}) {
          const Estimate& e = best ? row.best : row.worst;
          const char* procedure = row.n == 1 ? "standard" : best ? "best_of_n" : "worst_of_n";
          if (row.n == 1 && !best) continue;
          const GainRow* g = gain_row(jr, row.n, best);
          const bool f = g != nullptr && g->fraction.has_value();
          out << fmt::format(
              "{},{},{},{},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},{:.6f},"
              "{:.3f},{:.4f},{},{},{},{},{},{},{},{}\n",
              p.name, jr.judge, procedure, row.n, e.mean, e.lo, e.hi, e.se, p.kl_k1.mean,
              p.kl_k1.se, p.kl_k3.mean, p.kl_k3.se, p.stats.mean_length, p.stats.eos_rate,
              opt(jr.u.has_value(), jr.u ? jr.u->mean_u : 0, "{:.6f}"),
              opt(jr.u.has_value(), jr.u ? jr.u->u_kl.mean : 0, "{:.6f}"),
              opt(jr.u.has_value(), jr.u ? jr.u->u_kl.se : 0, "{:.6f}"),
              opt(jr.u && jr.u->kl_efficiency,
                  jr.u && jr.u->kl_efficiency ? *jr.u->kl_efficiency : 0, "{:.6f}"),
              opt(g != nullptr, g ? g->oracle_win : 0, "{:.6f}"),
              opt(f, f ? g->fraction->mean : 0, "{:.6f}"),
              opt(f, f ? g->fraction->lo : 0, "{:.6f}"), opt(f, f ? g->fraction->hi : 0, "{:.6f}"));
        }
      }
    }
  }
  return out.str();
}

std::string oracle_csv(const OracleReport& o) {
  std::ostringstream out;
  out << "judge,transform,target_kl,beta,kl,procedure,n,win_rate,se\n";
  for (const OracleCurve& c : o.curves) {
    for (const OracleCurvePoint& p : c.points) {
      for (std::size_t k = 0; k < o.n.size(); ++k) {
        for (const bool best : {true, false}) {
          if (o.n[k] == 1 && !best) continue;
          const Estimate& e = best ? p.best[k] : p.worst[k];
          out << fmt::format("{},{},{:.6g},{:.8g},{:.6f},{},{},{:.6f},{:.6f}\n", c.judge,
                             c.transform, p.target_kl, p.beta, p.kl,
                             o.n[k] == 1 ? "standard"
                             : best      ? "best_of_n"
                                         : "worst_of_n",
                             o.n[k], e.mean, e.se);
        }
      }
    }
  }
  return out.str();
}

std::string oracle_json(const EvalResults& r) {
  INFALIGN_CHECK(r.oracle.has_value(), "oracle_json: no oracle in these results");
  json j = to_json(*r.oracle);
  j["infalign_version"] = r.version;
  j["config_hash"] = r.config_hash;
  j["base"] = r.base_path;
  j["prompts_file"] = r.prompts_file;
  j["prompts"] = r.prompts;
  j["seed"] = r.seed;
  j["temperature"] = r.temperature;
  return j.dump(2) + "\n";
}

std::string results_table(const EvalResults& r) {
  std::ostringstream out;
  out << fmt::format(
      "Win rates against the base {} ({} prompts x {} samples per model, {:.0f}% {} intervals "
      "over prompts)\n",
      r.base_path, r.prompts, r.samples_per_prompt, 100 * r.confidence,
      r.bootstrap_resamples > 0 ? "bootstrap" : "normal (mean +- z se)");
  out << fmt::format("base: mean length {:.2f}, EOS rate {:.3f}\n", r.base_stats.mean_length,
                     r.base_stats.eos_rate);
  for (const auto& [judge, u] : r.base_u) {
    out << fmt::format(
        "base {}: mean u {:.3f}, u_kl {:.4f} (the estimator's floor at these sizes; u against {} "
        "calibration samples per prompt)\n",
        judge, u.mean_u, u.u_kl.mean, r.calibration_samples);
  }
  for (const auto& p : r.policies) {
    out << fmt::format("\n{} ({}){}\n", p.name, p.path,
                       p.transform.empty() ? "" : ", trained with " + p.transform);
    out << fmt::format(
        "  KL(policy || base) per sequence: k1 {:.4f} +- {:.4f}, k3 {:.4f} +- {:.4f}; mean "
        "length {:.2f}, EOS rate {:.3f}\n",
        p.kl_k1.mean, p.kl_k1.se, p.kl_k3.mean, p.kl_k3.se, p.stats.mean_length, p.stats.eos_rate);
    for (const auto& jr : p.judges) {
      out << fmt::format("  judge {} (mean score {:.4f} vs base {:.4f})\n", jr.judge,
                         jr.policy_mean, jr.base_mean);
      out << fmt::format("  {:>4}  {:<24}  {:<24}\n", "N", "best-of-N win rate",
                         "worst-of-N win rate");
      for (const auto& row : jr.rows) {
        out << fmt::format("  {:>4}  {:<24}  {:<24}\n", row.n, interval(row.best),
                           interval(row.worst));
      }
      if (jr.u) {
        out << fmt::format(
            "  u: mean {:.3f}, u_kl {:.4f} [{:.4f}, {:.4f}], KL efficiency (u_kl / k1) {}\n",
            jr.u->mean_u, jr.u->u_kl.mean, jr.u->u_kl.lo, jr.u->u_kl.hi,
            jr.u->kl_efficiency ? fmt::format("{:.3f}", *jr.u->kl_efficiency)
                                : std::string("undefined (KL ~ 0)"));
      }
      if (jr.oracle && jr.oracle->rows.empty()) {
        out << fmt::format("  oracle gain fraction: {}\n", jr.oracle->note);
      } else if (jr.oracle) {
        out << fmt::format(
            "  oracle {} at the policy's KL {:.3f}: win rate, oracle's, fraction of "
            "the oracle's gain over 0.5\n",
            jr.oracle->transform, jr.oracle->kl);
        for (const GainRow& g : jr.oracle->rows) {
          out << fmt::format(
              "  {:>12}  {:.3f}  {:.3f}  {}\n", procedure_name(g.n, g.best), g.win, g.oracle_win,
              g.fraction ? interval(*g.fraction) : std::string("undefined (oracle gain < 0.005)"));
        }
      }
    }
  }
  if (r.oracle) {
    const OracleReport& o = *r.oracle;
    out << fmt::format(
        "\nOracle: the KL-regularised optimum of each transform, by importance resampling of the "
        "{} "
        "calibration samples per prompt (each calibrated against the other {}), in duels against "
        "the {} base samples the policies faced\n",
        o.candidates, o.candidates - 1, o.opponents);
    for (const OracleCurve& c : o.curves) {
      out << fmt::format("  judge {}, {} (KL up to {:.2f}):\n    {:>6}", c.judge, c.label, c.max_kl,
                         "KL");
      for (std::size_t k = 0; k < o.n.size(); ++k) {
        out << fmt::format("  {:>11}", procedure_name(o.n[k], true));
        if (o.n[k] != 1) out << fmt::format("  {:>11}", procedure_name(o.n[k], false));
      }
      out << "\n";
      for (const OracleCurvePoint& p : c.points) {
        out << fmt::format("    {:>6.3f}", p.kl);
        for (std::size_t k = 0; k < o.n.size(); ++k) {
          out << fmt::format("  {:>11.3f}", p.best[k].mean);
          if (o.n[k] != 1) out << fmt::format("  {:>11.3f}", p.worst[k].mean);
        }
        out << "\n";
      }
    }
  }
  return out.str();
}

std::string compare_table(const std::vector<std::pair<std::string, EvalResults>>& runs) {
  // Columns: every policy of every file; rows: (judge, procedure, N) and KL.
  struct Column {
    std::string label;
    const EvalResults* results;
    const PolicyResult* policy;
  };
  struct Cell {
    Estimate e;
    const std::vector<double>* per_prompt = nullptr;  // for paired differences
  };
  std::vector<Column> columns;
  for (const auto& [file, results] : runs) {
    for (const auto& p : results.policies) columns.push_back({file + ":" + p.name, &results, &p});
  }
  if (columns.empty()) return "no policies in the results files\n";
  std::vector<std::string> keys;
  std::map<std::string, std::vector<std::optional<Cell>>> cells;
  auto put = [&](const std::string& key, std::size_t column, const Estimate& e,
                 const std::vector<double>* per_prompt = nullptr) {
    auto [it, inserted] = cells.try_emplace(key, columns.size());
    if (inserted) keys.push_back(key);
    it->second[column] = Cell{e, per_prompt};
  };
  for (std::size_t c = 0; c < columns.size(); ++c) {
    const PolicyResult& p = *columns[c].policy;
    for (const auto& jr : p.judges) {
      for (const auto& row : jr.rows) {
        if (row.n == 1) {
          put(fmt::format("{} standard", jr.judge), c, row.best, &row.best_per_prompt);
        } else {
          put(fmt::format("{} best-of-{}", jr.judge, row.n), c, row.best, &row.best_per_prompt);
          put(fmt::format("{} worst-of-{}", jr.judge, row.n), c, row.worst, &row.worst_per_prompt);
        }
      }
    }
    Estimate k1 = p.kl_k1;
    k1.lo = k1.mean - 1.96 * k1.se;
    k1.hi = k1.mean + 1.96 * k1.se;
    put("KL k1 (+-1.96 se)", c, k1, &p.kl_k1_per_prompt);
    for (const auto& jr : p.judges) {
      if (jr.u) {
        put(fmt::format("{} u_kl", jr.judge), c, jr.u->u_kl);
        if (jr.u->kl_efficiency) {
          const double v = *jr.u->kl_efficiency;
          put(fmt::format("{} KL efficiency", jr.judge), c, {v, v, v, 0});
        }
      }
      if (jr.oracle) {
        for (const GainRow& g : jr.oracle->rows) {
          if (g.fraction) {
            put(fmt::format("{} oracle gain {}", jr.judge, procedure_name(g.n, g.best)), c,
                *g.fraction);
          }
        }
      }
    }
  }
  // Paired when the column and [0] faced the same base samples on the same prompts.
  const EvalResults& first = *columns[0].results;
  const std::int64_t resamples = first.bootstrap_resamples > 0 ? first.bootstrap_resamples : 1000;
  auto paired = [&](std::size_t c, const Cell& cell, const Cell& ref) {
    const std::string& key = columns[c].results->pairing_key;
    return !key.empty() && key == first.pairing_key && cell.per_prompt != nullptr &&
           ref.per_prompt != nullptr && !cell.per_prompt->empty() &&
           cell.per_prompt->size() == ref.per_prompt->size();
  };
  bool any_paired = false, any_unpaired = false;
  std::vector<std::vector<std::string>> texts(keys.size(),
                                              std::vector<std::string>(columns.size(), "-"));
  std::vector<std::size_t> widths(columns.size());
  for (std::size_t c = 0; c < columns.size(); ++c) {
    widths[c] = c == 0 ? 3 : fmt::format("[{}] (diff vs [0])", c).size();
  }
  for (std::size_t k = 0; k < keys.size(); ++k) {
    const auto& row = cells.at(keys[k]);
    for (std::size_t c = 0; c < columns.size(); ++c) {
      if (!row[c]) continue;
      const Cell& cell = *row[c];
      std::string text = fmt::format("{:.3f} [{:.3f},{:.3f}]", cell.e.mean, cell.e.lo, cell.e.hi);
      if (c > 0 && row[0]) {
        const Cell& ref = *row[0];
        if (paired(c, cell, ref)) {
          const Estimate d = paired_difference(*ref.per_prompt, *cell.per_prompt, resamples,
                                               first.confidence, stable_seed(keys[k], c));
          const bool excludes_zero = d.lo > 0 || d.hi < 0;
          text += fmt::format(" {:+.3f} [{:+.3f},{:+.3f}]{}", d.mean, d.lo, d.hi,
                              excludes_zero ? "*" : "");
          any_paired = true;
        } else {
          const bool overlap = cell.e.lo <= ref.e.hi && ref.e.lo <= cell.e.hi;
          text += fmt::format(" {:+.3f}{}", cell.e.mean - ref.e.mean, overlap ? "" : "*");
          any_unpaired = true;
        }
      }
      widths[c] = std::max(widths[c], text.size());
      texts[k][c] = std::move(text);
    }
  }
  std::size_t key_width = 8;
  for (const auto& k : keys) key_width = std::max(key_width, k.size());
  std::ostringstream out;
  for (std::size_t c = 0; c < columns.size(); ++c) {
    out << fmt::format("[{}] {}\n", c, columns[c].label);
  }
  out << fmt::format("{:<{}}", "metric", key_width);
  for (std::size_t c = 0; c < columns.size(); ++c) {
    out << fmt::format("  {:<{}}", c == 0 ? "[0]" : fmt::format("[{}] (diff vs [0])", c),
                       widths[c]);
  }
  out << "\n";
  for (std::size_t k = 0; k < keys.size(); ++k) {
    out << fmt::format("{:<{}}", keys[k], key_width);
    for (std::size_t c = 0; c < columns.size(); ++c) {
      out << fmt::format("  {:<{}}", texts[k][c], widths[c]);
    }
    out << "\n";
  }
  if (any_paired) {
    out << fmt::format(
        "diff [lo,hi]: paired {:.0f}% bootstrap interval of the difference (prompts resampled "
        "jointly: same prompts and base samples); * where it excludes 0\n",
        100 * first.confidence);
  }
  if (any_unpaired) {
    out << "diff without an interval: different prompts or base samples, not paired; * where the "
           "two intervals do not overlap\n";
  }
  return out.str();
}

}  // namespace infalign::eval
