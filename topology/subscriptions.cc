#include "topology/subscriptions.h"

#include <algorithm>

#include <simdjson.h>

#include "topology/hash.h"

namespace meterflow {

namespace od = simdjson::ondemand;

result<subscription_record> parse_subscription(std::string_view json) {
  simdjson::padded_string padded(json);
  od::parser parser;
  od::document doc;
  od::object obj;
  if (parser.iterate(padded).get(doc) || doc.get_object().get(obj))
    return fail("subscription is not a JSON object");
  subscription_record r;
  bool has_tenant = false, has_plan = false, has_start = false;
  for (auto member : obj) {
    std::string_view key;
    od::value v;
    if (member.unescaped_key().get(key) || member.value().get(v))
      return fail("subscription is not valid JSON");
    std::string k(key);
    if (k == "tenant") {
      std::string_view s;
      if (v.get_string().get(s) || s.empty()) return fail("subscription \"tenant\" must be a non-empty string");
      r.tenant.assign(s);
      has_tenant = true;
    } else if (k == "plan") {
      has_plan = true;
      bool is_null = false;
      if (v.is_null().get(is_null)) return fail("subscription \"plan\" is not valid JSON");
      if (is_null) continue;
      std::string_view s;
      if (v.get_string().get(s) || s.empty()) return fail("subscription \"plan\" must be a plan key or null");
      r.plan.emplace(s);
    } else if (k == "start") {
      std::string_view s;
      if (v.get_string().get(s)) return fail("subscription \"start\" must be an RFC 3339 string");
      auto t = parse_rfc3339(s);
      if (!t) return fail("subscription \"start\": ", t.error().message);
      r.start = *t;
      has_start = true;
    } else if (k == "timezone") {
      std::string_view s;
      if (v.get_string().get(s)) return fail("subscription \"timezone\" must be a string");
      r.timezone.emplace(s);
    } else if (k == "anchor_day") {
      int64_t d;
      if (v.get_int64().get(d) || d < 1 || d > 28)
        return fail("subscription \"anchor_day\" must be an integer from 1 to 28");
      r.anchor_day = static_cast<int>(d);
    } else {
      return fail("subscription has an unknown member \"", k, "\"");
    }
  }
  const char* trailing = nullptr;
  if (doc.current_location().get(trailing) == simdjson::SUCCESS)
    return fail("subscription has content after its JSON object");
  if (!has_tenant) return fail("subscription has no \"tenant\"");
  if (!has_plan) return fail("subscription has no \"plan\" (use null to cancel)");
  if (!has_start) return fail("subscription has no \"start\"");
  return r;
}

result<std::optional<std::string>> subscription_book::apply(const subscription_record& r) {
  std::optional<std::string> warning;
  auto it = tenants_.find(r.tenant);
  if (it == tenants_.end()) {
    auto schedule = billing_schedule::create(r.timezone.value_or("UTC"), r.anchor_day.value_or(1));
    if (!schedule) return fail("tenant ", r.tenant, ": ", schedule.error().message);
    auto t = std::make_unique<tenant>(
        tenant{r.tenant, hasher().field(r.tenant).digest().lo, *schedule, {}, order_.size()});
    order_.push_back(t.get());
    const size_t index = t->index;
    it = tenants_.emplace(r.tenant, entry_of_name{std::move(t), index}).first;
  } else {
    const auto& s = it->second.t->schedule;
    if ((r.timezone && *r.timezone != s.zone_name()) ||
        (r.anchor_day && *r.anchor_day != s.anchor_day()))
      warning = "tenant " + r.tenant + ": timezone and anchor_day are fixed by its first record (" +
                std::string(s.zone_name()) + ", day " + std::to_string(s.anchor_day()) +
                "); the new values are ignored";
  }
  auto& entries = it->second.t->entries;
  auto pos = std::lower_bound(entries.begin(), entries.end(), r.start,
                              [](const entry& e, timestamp t) { return e.start < t; });
  if (pos != entries.end() && pos->start == r.start)
    pos->plan = r.plan;
  else
    entries.insert(pos, entry{r.start, r.plan});
  return warning;
}

const subscription_book::tenant* subscription_book::find(std::string_view name) const {
  return find_with_index(name).t;
}

subscription_book::found subscription_book::find_with_index(std::string_view name) const {
  // Debian's Abseil has its own string_view type (ABSL_OPTION_USE_STD_STRING_VIEW 0).
  auto it = tenants_.find(absl::string_view(name.data(), name.size()));
  if (it == tenants_.end()) return {};
  return {it->second.t.get(), it->second.index};
}

std::optional<segment> subscription_book::segment_at(const tenant& t, timestamp at) {
  // The last record starting at or before `at` decides the plan.
  auto after = std::upper_bound(t.entries.begin(), t.entries.end(), at,
                                [](timestamp x, const entry& e) { return x < e.start; });
  if (after == t.entries.begin()) return std::nullopt;
  const entry& active = *std::prev(after);
  if (!active.plan) return std::nullopt;
  period p = t.schedule.period_containing(at);
  timestamp start = std::max(p.start, active.start);
  timestamp end = p.end;
  if (after != t.entries.end()) end = std::min(end, after->start);
  return segment{p, start, end, *active.plan};
}

std::optional<segment> subscription_book::next_segment_from(const tenant& t, timestamp from) {
  // Either the segment containing `from` (if it starts exactly there) or the one at the next
  // boundary: a record start or a period start, whichever comes first.
  timestamp at = from;
  for (int guard = 0; guard < 100000; ++guard) {
    if (auto s = segment_at(t, at)) {
      if (s->start >= from) return s;
      at = s->end;
      continue;
    }
    // Inactive at `at`: jump to the next record start.
    auto next = std::upper_bound(t.entries.begin(), t.entries.end(), at,
                                 [](timestamp x, const entry& e) { return x < e.start; });
    if (next == t.entries.end()) return std::nullopt;
    at = next->start;
  }
  return std::nullopt;
}

}  // namespace meterflow
