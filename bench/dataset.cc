#include "bench/dataset.h"

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

std::string Hex(uint64_t value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i) {
    out[static_cast<size_t>(i)] = kHex[value & 0xf];
    value >>= 4;
  }
  return out;
}

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
  const std::string resource_id = resource_type.substr(0, 2) + "_" + Hex(rng_() % 100000, 5);
  out += R"({"tenant":")" + tenant_names_[static_cast<size_t>(tenant)] + R"(","workspace":")" +
         kWorkspaces[rng_() % kWorkspaces.size()] + R"(","type":")" +
         (action == "login" || action == "logout" ? "authentication" : "activity") +
         R"(","action":")" + action + R"(","status":")" + (failed ? "failure" : "success") +
         R"(","occurred_at":)" + std::to_string(occurred) + R"(,"actor":{"id":")" + user.id +
         R"(","email":")" + user.email + R"(","name":")" + user.name + R"(","role":")" + user.role +
         R"("},"resource":{"type":")" + resource_type + R"(","id":")" + resource_id +
         R"(","name":")" + words[rng_() % words.size()] + " " + words[rng_() % words.size()] +
         R"("},"request":{"method":")" + method + R"(","path":"/api/)" + resource_type + "/" +
         resource_id + R"(","status_code":)" + (failed ? "403" : "200") + R"(,"duration_ms":)" +
         std::to_string(2 + rng_() % 400) + R"(,"ip":")" + user.ip + R"(","user_agent":")" +
         user.user_agent + R"("},"details":{"change_id":")" + Hex(rng_(), 16) + R"(","summary":")";
  for (int w = 0; w < 12; ++w) {
    if (w > 0) out += ' ';
    out += words[rng_() % words.size()];
  }
  out += R"(","before":{"version":)" + std::to_string(rng_() % 50) +
         R"(,"enabled":true,"labels":[")" + words[rng_() % words.size()] + R"(",")" +
         words[rng_() % words.size()] + R"("]},"after":{"version":)" +
         std::to_string(rng_() % 50 + 1) + R"(,"enabled":)" + (rng_() % 2 ? "true" : "false") +
         R"(},"ticket":"OPS-)" + std::to_string(rng_() % 9000 + 1000) + R"(","api_key":"sk_live_)" +
         Hex(rng_(), 16) + R"("}})" + "\n";
}

}  // namespace evident::bench
