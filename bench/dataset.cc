#include "bench/dataset.h"

#include <charconv>
#include <cmath>

namespace evident::bench {
namespace {

const std::vector<std::string> kUserAgents = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0 Safari/537.36 OPR/109.0.0.0",
    "terraform-provider-acme/2.14.0 (+https://www.terraform.io) Terraform/1.8.2",
    "curl/8.5.0",
    "python-requests/2.31.0",
};
const std::vector<std::string> kResourceTypes = {"edge",   "user", "connector",       "wireguard",
                                                 "tenant", "role", "config_template", "peering",
                                                 "acl"};
const std::vector<std::string> kWorkspaces = {"prod", "staging", "dev", "eu-west", "us-east"};
const std::vector<std::string> kFirstNames = {"ana",  "bruno", "chen", "dara", "emeka", "fatima",
                                              "gus",  "hana",  "ivan", "jo",   "kofi",  "lena",
                                              "mo",   "nia",   "omar", "pia",  "quinn", "ravi",
                                              "sara", "tomas", "uma",  "vik",  "wen",   "yara"};
const std::vector<std::string> kRoles = {"admin",    "admin",   "operator",  "operator",
                                         "operator", "auditor", "developer", "developer"};

}  // namespace

const std::vector<std::string>& Dataset::Actions() {
  static const std::vector<std::string> actions = {
      "create",   "update", "update", "update", "delete", "revoke", "assign",
      "unassign", "sync",   "sync",   "export", "login",  "login",  "logout"};
  return actions;
}

const std::vector<std::string>& Dataset::Words() {
  static const std::vector<std::string> words = {
      "rotated",     "keys",        "tunnel",   "peer",     "handshake", "firmware",  "upgrade",
      "policy",      "certificate", "renewed",  "gateway",  "subnet",    "route",     "denied",
      "quota",       "exceeded",    "backup",   "restore",  "replica",   "latency",   "threshold",
      "alert",       "muted",       "migrated", "cluster",  "node",      "drained",   "scheduled",
      "maintenance", "window",      "approved", "ticket",   "incident",  "escalated", "resolved",
      "template",    "applied",     "drift",    "detected", "synced"};
  return words;
}

Dataset::Dataset(const DatasetOptions& options) : options_(options), rng_(options.seed) {
  users_by_tenant_.resize(static_cast<size_t>(options.tenants));
  for (int t = 0; t < options.tenants; ++t) {
    tenant_names_.push_back("tenant-" + std::to_string(t));
    tenant_weights_.push_back(1.0 / std::pow(t + 1, 1.1));  // Zipf-like: a few large tenants
    const int users =
        std::max(5, static_cast<int>(options.users_per_tenant_max / std::pow(t + 1, 0.8)));
    for (int u = 0; u < users; ++u) {
      User user;
      user.tenant = t;
      const std::string& first = kFirstNames[static_cast<size_t>(u) % kFirstNames.size()];
      user.id = "u_" + std::to_string(t) + "_" + std::to_string(u);
      user.email = first + "." + std::to_string(u) + "@tenant-" + std::to_string(t) + ".test";
      user.name = first;
      user.name[0] = static_cast<char>(user.name[0] - 'a' + 'A');
      user.role = kRoles[rng_() % kRoles.size()];
      user.ip = std::to_string(10 + rng_() % 200) + "." + std::to_string(rng_() % 256) + "." +
                std::to_string(rng_() % 256) + "." + std::to_string(1 + rng_() % 254);
      user.user_agent = kUserAgents[rng_() % kUserAgents.size()];
      users_by_tenant_[static_cast<size_t>(t)].push_back(static_cast<int>(users_.size()));
      users_.push_back(std::move(user));
    }
  }
  tenant_pick_ = std::discrete_distribution<int>(tenant_weights_.begin(), tenant_weights_.end());
}

int Dataset::PickTenant() { return tenant_pick_(rng_); }

const User& Dataset::PickUser(int tenant) {
  const auto& ids = users_by_tenant_[static_cast<size_t>(tenant)];
  // Some users are far busier than others.
  const double skew = std::pow(std::uniform_real_distribution<double>(0, 1)(rng_), 2.0);
  return users_[static_cast<size_t>(
      ids[static_cast<size_t>(skew * static_cast<double>(ids.size()))])];
}

namespace {

void AppendHex(uint64_t value, int digits, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  const size_t at = out.size();
  out.resize(at + static_cast<size_t>(digits));
  for (int i = digits - 1; i >= 0; --i) {
    out[at + static_cast<size_t>(i)] = kHex[value & 0xf];
    value >>= 4;
  }
}

void AppendNumber(uint64_t value, std::string& out) {
  char digits[24];
  const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, value);
  out.append(digits, end);
}

}  // namespace

// Appended piece by piece, not as one chain of `+` (which made a temporary string at every step
// and cost the benchmark's clients twice the CPU, on the same two cores as the server). The
// random draws are made in the order the chain made them, so the data set is the same.
void Dataset::AppendEvent(uint64_t index, std::string& out) {
  const int tenant = PickTenant();
  const User& user = PickUser(tenant);
  const auto& actions = Actions();
  const auto& words = Words();
  const std::string& action = actions[rng_() % actions.size()];
  const std::string& resource_type = kResourceTypes[rng_() % kResourceTypes.size()];
  const bool failed = rng_() % 20 == 0;
  const int64_t occurred =
      options_.start_ms +
      static_cast<int64_t>(static_cast<double>(options_.span_ms) * static_cast<double>(index) /
                           static_cast<double>(std::max<uint64_t>(1, options_.events)));
  const char* method = action == "create"   ? "POST"
                       : action == "delete" ? "DELETE"
                       : action == "update" ? "PATCH"
                                            : "POST";
  const uint64_t resource_number = rng_() % 100000;
  // The draws of one expression, in the order g++ made them when this was one chain of `+`.
  const uint64_t change_id = rng_();
  const uint64_t duration = 2 + rng_() % 400;
  const std::string& name_second = words[rng_() % words.size()];
  const std::string& name_first = words[rng_() % words.size()];
  const std::string& workspace = kWorkspaces[rng_() % kWorkspaces.size()];
  out += R"({"tenant":")";
  out += tenant_names_[static_cast<size_t>(tenant)];
  out += R"(","workspace":")";
  out += workspace;
  out += R"(","type":")";
  out += action == "login" || action == "logout" ? "authentication" : "activity";
  out += R"(","action":")";
  out += action;
  out += R"(","status":")";
  out += failed ? "failure" : "success";
  out += R"(","occurred_at":)";
  AppendNumber(static_cast<uint64_t>(occurred), out);
  out += R"(,"actor":{"id":")";
  out += user.id;
  out += R"(","email":")";
  out += user.email;
  out += R"(","name":")";
  out += user.name;
  out += R"(","role":")";
  out += user.role;
  out += R"("},"resource":{"type":")";
  out += resource_type;
  out += R"(","id":")";
  const size_t resource_id_at = out.size();
  out.append(resource_type, 0, 2);
  out += '_';
  AppendHex(resource_number, 5, out);
  const size_t resource_id_size = out.size() - resource_id_at;
  out += R"(","name":")";
  out += name_first;
  out += ' ';
  out += name_second;
  out += R"("},"request":{"method":")";
  out += method;
  out += R"(","path":"/api/)";
  out += resource_type;
  out += '/';
  out.append(out, resource_id_at, resource_id_size);
  out += R"(","status_code":)";
  out += failed ? "403" : "200";
  out += R"(,"duration_ms":)";
  AppendNumber(duration, out);
  out += R"(,"ip":")";
  out += user.ip;
  out += R"(","user_agent":")";
  out += user.user_agent;
  out += R"("},"details":{"change_id":")";
  AppendHex(change_id, 16, out);
  out += R"(","summary":")";
  for (int w = 0; w < 12; ++w) {
    if (w > 0) out += ' ';
    out += words[rng_() % words.size()];
  }
  const uint64_t api_key = rng_();
  const uint64_t ticket = rng_() % 9000 + 1000;
  const bool enabled = rng_() % 2;
  const uint64_t after_version = rng_() % 50 + 1;
  const std::string& label_second = words[rng_() % words.size()];
  const std::string& label_first = words[rng_() % words.size()];
  const uint64_t before_version = rng_() % 50;
  out += R"(","before":{"version":)";
  AppendNumber(before_version, out);
  out += R"(,"enabled":true,"labels":[")";
  out += label_first;
  out += R"(",")";
  out += label_second;
  out += R"("]},"after":{"version":)";
  AppendNumber(after_version, out);
  out += R"(,"enabled":)";
  out += enabled ? "true" : "false";
  out += R"(},"ticket":"OPS-)";
  AppendNumber(ticket, out);
  out += R"(","api_key":"sk_live_)";
  AppendHex(api_key, 16, out);
  out += "\"}}\n";
}

}  // namespace evident::bench
