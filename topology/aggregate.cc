#include "topology/aggregate.h"

#include "base/assert.h"

namespace meterflow {

namespace {
decimal checked_sum(decimal a, decimal b) {
  auto s = a.checked_add(b);
  // Reaching 1.7e26 needs 1e8 events at the largest accepted value within one segment.
  MF_ASSERT(s.has_value(), "meter quantity overflows the decimal range");
  return *s;
}
}  // namespace

void aggregate::add(aggregation kind, decimal v, std::string_view text, timestamp t,
                    std::string_view tiebreak) {
  switch (kind) {
    case aggregation::count: break;
    case aggregation::sum: value = checked_sum(value, v); break;
    case aggregation::max: if (count == 0 || v > value) value = v; break;
    case aggregation::min: if (count == 0 || v < value) value = v; break;
    case aggregation::latest:
      if (count == 0 || t > latest_time() ||
          (t == latest_time() && tiebreak > latest_tiebreak())) {
        value = v;
        latest_value().time = t;
        latest_value().tiebreak.assign(tiebreak);
      }
      break;
    // insert looks the key up before allocating a node (emplace allocates first): repeats of
    // a member, the common case, allocate nothing.
    case aggregation::unique_count: members().insert(std::string(text)); break;
  }
  ++count;
}

void aggregate::merge(aggregation kind, const aggregate& o) {
  if (o.count == 0) return;
  switch (kind) {
    case aggregation::count: break;
    case aggregation::sum: value = checked_sum(value, o.value); break;
    case aggregation::max: if (count == 0 || o.value > value) value = o.value; break;
    case aggregation::min: if (count == 0 || o.value < value) value = o.value; break;
    case aggregation::latest:
      if (count == 0 || o.latest_time() > latest_time() ||
          (o.latest_time() == latest_time() && o.latest_tiebreak() > latest_tiebreak())) {
        value = o.value;
        latest_value().time = o.latest_time();
        latest_value().tiebreak.assign(o.latest_tiebreak());
      }
      break;
    case aggregation::unique_count:
      if (o.distinct) members().insert(o.distinct->begin(), o.distinct->end());
      break;
  }
  count += o.count;
}

decimal aggregate::quantity(aggregation kind) const {
  switch (kind) {
    case aggregation::count: return decimal::from_int(count);
    case aggregation::unique_count: return decimal::from_int(static_cast<int64_t>(member_count()));
    default: return count == 0 ? decimal{} : value;
  }
}

}  // namespace meterflow
