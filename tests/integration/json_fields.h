// Small readers of JSON answers and test data shared by the integration tests.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace evident::integration {

// A password that meets the policy (at least 12 characters), different for every user.
inline std::string PasswordFor(const std::string& email) {
  return "pw of " + email + " 0123456789";
}

// The string at JSON pointer `pointer`, another value as its JSON text, or empty when absent.
inline std::string At(const nlohmann::json& value, const std::string& pointer) {
  const nlohmann::json::json_pointer where(pointer);
  if (!value.is_object() || !value.contains(where)) return {};
  const nlohmann::json& found = value.at(where);
  return found.is_string() ? found.get<std::string>() : found.dump();
}

// The value at JSON pointer `pointer`, or null when absent (operator[] on a const json must not
// be given a missing key).
inline nlohmann::json Field(const nlohmann::json& value, const std::string& pointer) {
  const nlohmann::json::json_pointer where(pointer);
  if (!value.is_object() || !value.contains(where)) return nlohmann::json();
  return value.at(where);
}

// The elements of the array at JSON pointer `pointer`; empty when there is none.
inline std::vector<nlohmann::json> ListAt(const nlohmann::json& value, const std::string& pointer) {
  const nlohmann::json list = Field(value, pointer);
  if (!list.is_array()) return {};
  return std::vector<nlohmann::json>(list.begin(), list.end());
}

// The events for which `wanted` is true, in their order.
inline std::vector<nlohmann::json> Where(const std::vector<nlohmann::json>& events,
                                         const std::function<bool(const nlohmann::json&)>& wanted) {
  std::vector<nlohmann::json> matching;
  for (const nlohmann::json& event : events) {
    if (wanted(event)) matching.push_back(event);
  }
  return matching;
}

}  // namespace evident::integration
