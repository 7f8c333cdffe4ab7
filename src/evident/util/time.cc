#include "evident/util/time.h"

#include <charconv>

namespace evident::util {
namespace {

constexpr int64_t kMillisPerDay = 86'400'000;

bool ReadDigits(std::string_view text, size_t pos, size_t count, int& out) {
  if (pos + count > text.size()) return false;
  int value = 0;
  for (size_t i = 0; i < count; ++i) {
    char c = text[pos + i];
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  out = value;
  return true;
}

bool IsLeap(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeap(year) ? 29 : kDays[month - 1];
}

Error Invalid(std::string_view text, std::string_view why) {
  return Error::InvalidArgument("'" + std::string(text.substr(0, 64)) +
                                "' is not an RFC 3339 timestamp: " + std::string(why));
}

}  // namespace

int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day) {
  year -= month <= 2;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const auto yoe = static_cast<unsigned>(year - era * 400);
  const unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t days, int64_t& year, unsigned& month, unsigned& day) {
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const auto doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  day = doy - (153 * mp + 2) / 5 + 1;
  month = mp < 10 ? mp + 3 : mp - 9;
  year = static_cast<int64_t>(yoe) + era * 400 + (month <= 2);
}

Result<UnixMillis> ParseRfc3339(std::string_view text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  if (!ReadDigits(text, 0, 4, year) || text.size() < 19 || text[4] != '-' ||
      !ReadDigits(text, 5, 2, month) || text[7] != '-' || !ReadDigits(text, 8, 2, day) ||
      (text[10] != 'T' && text[10] != 't' && text[10] != ' ') || !ReadDigits(text, 11, 2, hour) ||
      text[13] != ':' || !ReadDigits(text, 14, 2, minute) || text[16] != ':' ||
      !ReadDigits(text, 17, 2, second)) {
    return Invalid(text, "expected YYYY-MM-DDTHH:MM:SS");
  }
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month)) {
    return Invalid(text, "no such date");
  }
  // RFC 3339 allows a leap second (60); like most systems we fold it into the next second.
  if (hour > 23 || minute > 59 || second > 60) return Invalid(text, "no such time of day");
  size_t pos = 19;
  int64_t millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    size_t digits = 0;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (digits < 3) millis = millis * 10 + (text[pos] - '0');
      ++digits;
      ++pos;
    }
    if (digits == 0) return Invalid(text, "a fraction needs digits");
    for (size_t i = digits; i < 3; ++i) millis *= 10;
  }
  int64_t offset_minutes = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    int off_hour = 0, off_minute = 0;
    if (!ReadDigits(text, pos + 1, 2, off_hour) || pos + 3 >= text.size() || text[pos + 3] != ':' ||
        !ReadDigits(text, pos + 4, 2, off_minute) || off_hour > 23 || off_minute > 59) {
      return Invalid(text, "malformed UTC offset");
    }
    offset_minutes = (off_hour * 60 + off_minute) * (text[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return Invalid(text, "a UTC offset ('Z' or '+HH:MM') is required");
  }
  if (pos != text.size()) return Invalid(text, "unexpected trailing characters");
  const int64_t days =
      DaysFromCivil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  const int64_t result = seconds * 1000 + millis;
  if (result < kMinUnixMillis || result > kMaxUnixMillis) return Invalid(text, "out of range");
  return result;
}

Result<UnixMillis> ParseTimestamp(std::string_view text) {
  if (!text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos) {
    int64_t millis = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), millis);
    if (ec != std::errc() || end != text.data() + text.size() || millis > kMaxUnixMillis) {
      return Error::InvalidArgument("'" + std::string(text.substr(0, 64)) +
                                    "' is out of range for epoch milliseconds");
    }
    return millis;
  }
  return ParseRfc3339(text);
}

void AppendRfc3339Millis(UnixMillis millis, std::string& out) {
  int64_t days = millis / kMillisPerDay;
  int64_t rest = millis % kMillisPerDay;
  if (rest < 0) {
    rest += kMillisPerDay;
    --days;
  }
  int64_t year = 0;
  unsigned month = 0, day = 0;
  CivilFromDays(days, year, month, day);
  const auto ms = static_cast<unsigned>(rest % 1000);
  const auto total_seconds = static_cast<unsigned>(rest / 1000);
  char buf[32];
  const unsigned fields[] = {month, day, total_seconds / 3600, total_seconds / 60 % 60,
                             total_seconds % 60};
  auto put = [&buf](int at, unsigned value, int width) {
    for (int i = width - 1; i >= 0; --i) {
      buf[at + i] = static_cast<char>('0' + value % 10);
      value /= 10;
    }
  };
  put(0, static_cast<unsigned>(year), 4);
  buf[4] = '-';
  put(5, fields[0], 2);
  buf[7] = '-';
  put(8, fields[1], 2);
  buf[10] = 'T';
  put(11, fields[2], 2);
  buf[13] = ':';
  put(14, fields[3], 2);
  buf[16] = ':';
  put(17, fields[4], 2);
  buf[19] = '.';
  put(20, ms, 3);
  buf[23] = 'Z';
  out.append(buf, 24);
}

std::string FormatRfc3339Millis(UnixMillis millis) {
  std::string out;
  out.reserve(24);
  AppendRfc3339Millis(millis, out);
  return out;
}

}  // namespace evident::util
