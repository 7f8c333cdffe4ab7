// How CountOverTime lays out its buckets. Shared by every backend so that they agree exactly.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>

#include "evident/core/filter.h"
#include "evident/storage/event_store.h"
#include "evident/util/result.h"
#include "evident/util/time.h"

namespace evident::storage {

inline constexpr int kMaxHistogramBuckets = 10'000;
inline constexpr int64_t kMillisPerMinute = 60'000;
inline constexpr int64_t kMillisPerHour = 3'600'000;

// Buckets are [first_start + i * interval_ms, first_start + (i + 1) * interval_ms) for
// i in [0, count). first_start <= from and the last bucket ends at or after `to`, so the buckets
// cover [from, to); only events inside [from, to) are counted. Intervals of an hour or more are
// whole hours starting on the hour (UTC), intervals of a minute or more whole minutes: charts read
// better, and stores can answer whole hours from pre-aggregated counts.
struct HistogramLayout {
  util::UnixMillis first_start = 0;
  int64_t interval_ms = 1;
  int count = 0;

  // The bucket index of `millis`, which must lie in [first_start, first_start + count*interval).
  int BucketOf(util::UnixMillis millis) const {
    return static_cast<int>((millis - first_start) / interval_ms);
  }
};

inline int64_t FloorTo(int64_t value, int64_t unit) {
  const int64_t quotient = value / unit;
  return (value % unit != 0 && value < 0 ? quotient - 1 : quotient) * unit;
}

// Errors: InvalidArgument when `buckets` is outside [1, kMaxHistogramBuckets] or to < from.
// An empty range (from == to) gives no buckets.
inline util::Result<HistogramLayout> MakeHistogramLayout(util::UnixMillis from, util::UnixMillis to,
                                                         int buckets) {
  if (buckets < 1 || buckets > kMaxHistogramBuckets) {
    return util::Error::InvalidArgument("buckets: must be between 1 and " +
                                        std::to_string(kMaxHistogramBuckets));
  }
  if (to < from) return util::Error::InvalidArgument("histogram: `to` is before `from`");
  HistogramLayout layout;
  layout.first_start = from;
  if (to == from) return layout;
  const int64_t span = to - from;
  int64_t interval = (span + buckets - 1) / buckets;
  int64_t unit = 1;
  if (interval >= kMillisPerHour) {
    unit = kMillisPerHour;
  } else if (interval >= kMillisPerMinute) {
    unit = kMillisPerMinute;
  }
  layout.first_start = FloorTo(from, unit);
  interval = (interval + unit - 1) / unit * unit;
  // Aligning the start can need one bucket more than asked; widen the interval instead.
  while ((to - layout.first_start + interval - 1) / interval > buckets) interval += unit;
  layout.interval_ms = interval;
  layout.count = static_cast<int>((to - layout.first_start + interval - 1) / interval);
  return layout;
}

// CountOverTime's answer before counting: the range is the filter's [from, to) where given, else
// reaches from the earliest to just past the latest matching time (`earliest`/`latest`, unset
// when nothing matches); every bucket at zero. Errors: as MakeHistogramLayout.
inline util::Result<std::pair<Histogram, HistogramLayout>> ZeroHistogram(
    const core::Filter& filter, std::optional<util::UnixMillis> earliest,
    std::optional<util::UnixMillis> latest, int buckets) {
  Histogram histogram;
  histogram.from = filter.from ? *filter.from : earliest.value_or(0);
  histogram.to = filter.to ? *filter.to : (latest ? *latest + 1 : histogram.from);
  if (histogram.to < histogram.from) histogram.to = histogram.from;
  EVIDENT_ASSIGN_OR_RETURN(HistogramLayout layout,
                           MakeHistogramLayout(histogram.from, histogram.to, buckets));
  histogram.interval_ms = layout.interval_ms;
  for (int i = 0; i < layout.count; ++i) {
    histogram.buckets.push_back(HistogramBucket{layout.first_start + i * layout.interval_ms, 0});
  }
  return std::pair{std::move(histogram), layout};
}

// Counts one event at `time` when it lies in the histogram's [from, to).
inline void CountInto(Histogram& histogram, const HistogramLayout& layout, util::UnixMillis time) {
  if (time >= histogram.from && time < histogram.to) {
    ++histogram.buckets[static_cast<size_t>(layout.BucketOf(time))].count;
  }
}

}  // namespace evident::storage
