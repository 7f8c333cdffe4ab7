#include "evident/core/user_agent.h"

#include <re2/re2.h>
#include <yaml-cpp/yaml.h>

#include <array>
#include <shared_mutex>

#include "evident/util/strings.h"

extern "C" const char evident_uap_regexes[];
extern "C" const char evident_uap_regexes_end[];

namespace evident::core {
namespace {

struct Rule {
  std::unique_ptr<RE2> regex;
  std::string replacement;  // may hold $1; empty: use the first group
};

// uap-core replacements name capture groups as $1..$9.
std::string Substitute(const std::string& pattern, const std::array<std::string, 3>& groups) {
  if (pattern.empty()) return groups[0];
  std::string out;
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '$' && i + 1 < pattern.size() && pattern[i + 1] >= '1' &&
        pattern[i + 1] <= '3') {
      out += groups[static_cast<size_t>(pattern[i + 1] - '1')];
      ++i;
    } else {
      out += pattern[i];
    }
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string FoldOs(std::string_view family) {
  auto starts = [&](std::string_view prefix) { return family.substr(0, prefix.size()) == prefix; };
  if (starts("Windows")) return "Windows";
  if (starts("Mac OS") || family == "macOS") return "macOS";
  if (family == "iOS" || family == "iPadOS") return "iOS";
  if (family == "Android") return "Android";
  if (family == "Chrome OS" || family == "ChromeOS") return "ChromeOS";
  static constexpr std::string_view kLinux[] = {
      "Linux", "Ubuntu",   "Debian", "Fedora",     "Red Hat",  "Gentoo",    "Mint",    "Linux Mint",
      "SUSE",  "openSUSE", "CentOS", "Arch Linux", "Mandriva", "Slackware", "Kubuntu", "Xubuntu"};
  for (std::string_view name : kLinux) {
    if (family == name) return "Linux";
  }
  return "Other";
}

std::string FoldBrowser(std::string_view family) {
  auto starts = [&](std::string_view prefix) { return family.substr(0, prefix.size()) == prefix; };
  if (starts("Edge")) return "Edge";
  if (starts("Opera")) return "Opera";
  if (starts("Firefox")) return "Firefox";
  if (starts("Chrome") || family == "Chromium") return "Chrome";
  if (family == "Safari" || family == "Mobile Safari" || family == "Mobile Safari UI/WKWebView") {
    return "Safari";
  }
  if (family == "IE" || family == "IE Mobile") return "Internet Explorer";
  static constexpr std::string_view kKept[] = {"Samsung Internet", "Vivaldi", "Brave",
                                               "Yandex Browser", "UC Browser"};
  for (std::string_view name : kKept) {
    if (family == name) return std::string(name);
  }
  return "Other";
}

class UapParser final : public UserAgentParser {
 public:
  util::Status Load(std::string_view yaml_text) {
    try {
      const YAML::Node root = YAML::Load(std::string(yaml_text));
      EVIDENT_RETURN_IF_ERROR(
          LoadRules(root["user_agent_parsers"], "family_replacement", browsers_));
      EVIDENT_RETURN_IF_ERROR(LoadRules(root["os_parsers"], "os_replacement", systems_));
    } catch (const YAML::Exception& e) {
      return util::Error::Internal(std::string("uap-core rules: ") + e.what());
    }
    return {};
  }

  Agent Parse(std::string_view user_agent) const override {
    {
      std::shared_lock lock(mu_);
      auto found = cache_.find(user_agent);  // a view: StringMap copies no key to look up
      if (found != cache_.end()) return found->second;
    }
    Agent agent{FoldOs(Match(systems_, user_agent)), FoldBrowser(Match(browsers_, user_agent))};
    std::unique_lock lock(mu_);
    if (cache_.size() >= kMaxCached) cache_.clear();  // user agents repeat; a rare reset is cheap
    cache_.emplace(user_agent, agent);
    return agent;
  }

 private:
  static constexpr size_t kMaxCached = 50'000;

  static util::Status LoadRules(const YAML::Node& list, const char* replacement_key,
                                std::vector<Rule>& rules) {
    if (!list || !list.IsSequence()) return util::Error::Internal("uap-core rules: missing list");
    RE2::Options options;
    options.set_log_errors(false);
    options.set_max_mem(8 << 20);
    for (const YAML::Node& node : list) {
      RE2::Options rule_options = options;
      if (node["regex_flag"] && node["regex_flag"].as<std::string>() == "i") {
        rule_options.set_case_sensitive(false);
      }
      Rule rule;
      rule.regex = std::make_unique<RE2>(node["regex"].as<std::string>(), rule_options);
      if (!rule.regex->ok()) continue;  // RE2 rejects no current rule; skip one if it ever does
      if (node[replacement_key]) rule.replacement = node[replacement_key].as<std::string>();
      rules.push_back(std::move(rule));
    }
    return {};
  }

  static std::string Match(const std::vector<Rule>& rules, std::string_view text) {
    for (const Rule& rule : rules) {
      std::array<std::string, 3> groups;
      const int group_count = std::min(rule.regex->NumberOfCapturingGroups(), 3);
      std::array<RE2::Arg, 3> args = {RE2::Arg(&groups[0]), RE2::Arg(&groups[1]),
                                      RE2::Arg(&groups[2])};
      std::array<const RE2::Arg*, 3> arg_ptrs = {&args[0], &args[1], &args[2]};
      if (RE2::PartialMatchN(re2::StringPiece(text.data(), text.size()), *rule.regex,
                             arg_ptrs.data(), group_count)) {
        return Substitute(rule.replacement, groups);
      }
    }
    return "Other";
  }

  std::vector<Rule> browsers_;
  std::vector<Rule> systems_;
  mutable std::shared_mutex mu_;
  mutable util::StringMap<Agent> cache_;  // guarded by mu_
};

}  // namespace

util::Result<std::unique_ptr<UserAgentParser>> UserAgentParser::CreateDefault() {
  auto parser = std::make_unique<UapParser>();
  EVIDENT_RETURN_IF_ERROR(parser->Load(std::string_view(
      evident_uap_regexes, static_cast<size_t>(evident_uap_regexes_end - evident_uap_regexes))));
  return std::unique_ptr<UserAgentParser>(std::move(parser));
}

}  // namespace evident::core
