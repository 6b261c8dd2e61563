#include "topology/engine.h"

#include <algorithm>

#include <boost/container/small_vector.hpp>

#include "base/assert.h"
#include "topology/detail/engine_state.h"
#include "topology/json_writer.h"

namespace meterflow {

using tenant = subscription_book::tenant;

// ---- orderings -----------------------------------------------------------------------------

namespace {
// Tenants order by a stable hash of their id (cheaper than comparing names; the same order in
// every run and after every restore), names breaking the rare tie.
int compare_names(const tenant* a, const tenant* b) {
  if (a == b) return 0;
  if (a->order != b->order) return a->order < b->order ? -1 : 1;
  return a->name.compare(b->name);
}
aggregation window_kind(const meter& m) { return m.window_agg.value_or(m.agg); }
}  // namespace

bool engine::segment_key_less::operator()(const segment_key& a, const segment_key& b) const {
  if (int c = compare_names(a.tenant, b.tenant)) return c < 0;
  return a.start < b.start;
}
bool engine::due_segment_less::operator()(const due_segment& a, const due_segment& b) const {
  if (a.end != b.end) return a.end < b.end;
  return segment_key_less{}(a.key, b.key);
}
bool engine::start_key_less::operator()(const start_key& a, const start_key& b) const {
  if (a.start != b.start) return a.start < b.start;
  return compare_names(a.tenant, b.tenant) < 0;
}

result<void> engine_options::validate() const {
  if (window.count() <= 0) return fail("window size must be positive");
  if (grace.count() < 0) return fail("grace must not be negative");
  if (settlement.count() < 0) return fail("settlement window must not be negative");
  if (decoder.max_future.count() < 0) return fail("max.future must not be negative");
  return {};
}

engine::engine(engine_options options, std::shared_ptr<const catalog> cat)
    : options_(options), catalog_(std::move(cat)), decoder_(options.decoder) {}

engine::~engine() = default;

// ---- subscriptions and segments ------------------------------------------------------------

result<std::optional<std::string>> engine::apply_subscription(const subscription_record& r) {
  auto applied = book_.apply(r);
  if (!applied) return applied;
  const tenant* t = book_.find(r.tenant);
  if (current_segment_.size() <= t->index) current_segment_.resize(t->index + 1);
  current_segment_[t->index] = nullptr;

  // A record inside a running segment cuts it: the segment ends where the record starts (its
  // recurring fee and minimum are prorated to the shorter stretch). A segment already final was
  // billed; changing it is a re-rating (backfill).
  for (auto it = segments_.lower_bound(segment_key{t, INT64_MIN});
       it != segments_.end() && it->first.tenant == t; ++it) {
    segment_state& s = *it->second;
    if (!(s.seg.start < r.start && r.start < s.seg.end)) continue;
    if (s.final) {
      std::string warning = "tenant " + t->name + ": the subscription record starting " +
                            format_utc(r.start) + " falls in a segment already billed (" +
                            format_utc(s.seg.start) + " to " + format_utc(s.seg.end) +
                            "); it applies from the next segment on";
      if (!*applied) applied = std::optional<std::string>(std::move(warning));
      continue;
    }
    due_segments_.erase(due_segment{s.seg.end.ms, it->first});
    s.seg.end = r.start;
    s.json_members.clear();
    due_segments_.insert(due_segment{s.seg.end.ms, it->first});
    mark_dirty(s);
  }

  // Plan the tenant's next segment opening: from the record's start, but never earlier than what
  // may still be billed (a segment past its settlement window was billed and dropped: opening it
  // again would bill it twice), and never later than the opening already planned.
  timestamp from = r.start;
  if (stream_time_) {
    const timestamp settled = *stream_time_ - options_.settlement;
    if (settled > from) from = t->schedule.period_containing(settled).start;
  }
  if (auto planned = planned_start_.find(t); planned != planned_start_.end()) {
    from = std::min(from, timestamp{planned->second});
    segment_starts_.erase(start_key{planned->second, t});
    planned_start_.erase(planned);
  }
  schedule_next_segment(*t, from);
  return applied;
}

void engine::schedule_next_segment(const tenant& t, timestamp from) {
  for (auto s = subscription_book::next_segment_from(t, from); s;
       s = subscription_book::next_segment_from(t, s->end)) {
    if (!segments_.contains(segment_key{&t, s->start.ms})) {
      segment_starts_.insert(start_key{s->start.ms, &t});
      planned_start_[&t] = s->start.ms;
      return;
    }
  }
}

engine::segment_state* engine::segment_for(const tenant& t, const segment& s, std::string& why) {
  auto it = segments_.find(segment_key{&t, s.start.ms});
  if (it != segments_.end()) return it->second.get();
  const plan* p = catalog_->find_plan(s.plan);
  if (!p) {
    why = "tenant " + t.name + " is on plan \"" + std::string(s.plan) +
          "\", which the catalog does not define";
    return nullptr;
  }
  const plan_version* v = p->version_at(s.start);
  if (!v) {
    why = "plan \"" + p->key + "\" has no version effective at " + format_utc(s.start);
    return nullptr;
  }
  return &open_segment(t, s, *p, *v);
}

engine::segment_state& engine::open_segment(const tenant& t, const segment& s, const plan& p,
                                            const plan_version& v) {
  auto state = std::make_unique<segment_state>();
  state->owner = &t;
  state->seg = s;
  state->plan_key = s.plan;
  state->seg.plan = state->plan_key;
  state->cat = catalog_;
  state->p = &p;
  state->version = &v;
  state->charges.resize(v.charges.size());
  segment_state& ref = *state;
  segments_.emplace(segment_key{&t, s.start.ms}, std::move(state));
  mark_dirty(ref);
  due_segments_.insert(due_segment{s.end.ms, segment_key{&t, s.start.ms}});
  return ref;
}

// ---- output ----------------------------------------------------------------------------------

std::string& record_collector::begin(output_kind kind, std::string_view key) {
  output_record& r = out_.emplace_back();
  r.kind = kind;
  r.key.assign(key);
  r.value.reserve(640);  // a charge line: one allocation
  return r.value;
}

void record_collector::dead_letter(std::string_view raw, std::string_view key,
                                   dead_letter_reason reason, std::string error) {
  output_record& r = out_.emplace_back();
  r.kind = output_kind::dead_letter;
  r.key.assign(key);
  r.value.assign(raw);
  r.reason = reason;
  r.error = std::move(error);
}

// ---- the event path ------------------------------------------------------------------------

void engine::dead_letter(std::string_view raw, std::string_view key, dead_letter_reason reason,
                         std::string error, output_sink& out) {
  ++counters_.dead_letters[static_cast<size_t>(reason)];
  out.dead_letter(raw, key, reason, std::move(error));
}

void engine::process(std::string_view raw, timestamp wall_clock, output_sink& out) {
  process_batch(std::span(&raw, 1), wall_clock, out);
}

void engine::process_batch(std::span<const std::string_view> raws, timestamp wall_clock,
                           output_sink& out, const std::function<void(size_t)>& before_each) {
  const size_t n = raws.size();
  size_t decoded = 0;
  for (size_t i = 0; i < n; ++i) {
    for (; decoded < n && decoded < i + lookahead; ++decoded)
      decode_ahead(raws[decoded], wall_clock, ahead_[decoded % lookahead]);
    // Halfway: the segment prefetched at decoding has arrived; start on its latest window.
    if (i + lookahead / 2 < decoded) prefetch_window(ahead_[(i + lookahead / 2) % lookahead]);
    if (before_each) before_each(i);
    apply(raws[i], ahead_[i % lookahead], out);
  }
}

// Decodes `raw` and starts loading what applying it will touch: its dedup slot, its tenant's
// current segment (cache misses among many tenants).
void engine::decode_ahead(std::string_view raw, timestamp wall_clock, ahead& a) {
  a.failure = decoder_.decode(raw, *catalog_, wall_clock, a.ev);
  a.tenant = nullptr;
  if (a.failure) return;
  dedup_.prefetch(a.ev.key);
  const auto found = book_.find_with_index(a.ev.subject);
  a.tenant = found.t;
  a.tenant_index = found.index;
  if (a.tenant)
    if (const segment_state* s = current_segment_[a.tenant_index]) __builtin_prefetch(s);
}

void engine::prefetch_window(const ahead& a) const {
  if (!a.tenant) return;
  if (const segment_state* s = current_segment_[a.tenant_index])
    if (const open_window* w = s->last_window) __builtin_prefetch(w);
}

void engine::apply(std::string_view raw, ahead& a, output_sink& out) {
  using R = dead_letter_reason;
  decoded_event& ev = a.ev;
  if (a.failure) {
    dead_letter(raw, a.failure->reason >= R::unknown_type ? ev.subject : std::string_view{},
                a.failure->reason, std::move(a.failure->error), out);
    return;
  }
  const subscription_book::tenant* t = a.tenant;
  const size_t tenant_index = a.tenant_index;
  if (!t) {
    dead_letter(raw, ev.subject, R::no_subscription,
                "tenant " + ev.subject + " has no subscription", out);
    return;
  }
  // Most events of a tenant fall in the segment its previous event fell in.
  segment_state*& cached = current_segment_[tenant_index];  // sized by apply_subscription
  segment_state* state = nullptr;
  if (cached && cached->seg.start <= ev.time && ev.time < cached->seg.end) {
    state = cached;
  } else {
    auto seg = subscription_book::segment_at(*t, ev.time);
    if (!seg) {
      dead_letter(raw, ev.subject, R::no_subscription,
                  "tenant " + ev.subject + " has no active subscription at " + format_utc(ev.time),
                  out);
      return;
    }
    if (too_late(raw, ev, seg->billing_period, out)) return;
    std::string why;
    state = segment_for(*t, *seg, why);
    if (!state) {
      dead_letter(raw, ev.subject, R::no_subscription, std::move(why), out);
      return;
    }
    cached = state;
  }
  // Among many tenants the event's window state is a chain of cache misses (segment, window,
  // its meters): start loading the window while the dedup table is probed (another miss).
  __builtin_prefetch(&state->last_window);
  const segment& seg = state->seg;
  if (too_late(raw, ev, seg.billing_period, out)) return;
  timestamp accept_until = seg.billing_period.end + options_.settlement;
  if (const open_window* w = state->last_window) __builtin_prefetch(w);

  // A key whose expiry passed before stream time but that expire() has not swept yet is gone.
  auto verdict = dedup_.insert(ev.key, ev.fingerprint, accept_until.ms,
                               stream_time_ ? stream_time_->ms : INT64_MIN);
  if (verdict != dedup_table::verdict::inserted) {
    if (verdict == dedup_table::verdict::duplicate) {
      ++counters_.duplicates;
    } else {
      dead_letter(raw, ev.subject, R::idempotency_conflict,
                  "event " + ev.id + " from " + ev.source + " for " + ev.subject +
                      " was accepted before with a different type, time or data",
                  out);
    }
    return;
  }
  note_new_dedup(accept_until.ms, ev.key, ev.fingerprint);
  ++counters_.accepted;

  // Windows are cut at segment boundaries: [max(aligned start, segment start), min(aligned end,
  // segment end)).
  const int64_t size = options_.window.count();
  int64_t aligned = ev.time.ms - ((ev.time.ms % size) + size) % size;
  int64_t w_start = std::max(aligned, seg.start.ms);
  int64_t w_end = std::min(aligned + size, seg.end.ms);
  bool late = close_horizon() && close_horizon()->ms >= w_end + options_.grace.count();

  if (state->cat != catalog_) remap_readings(*state->cat, ev);
  if (late) {
    apply_late(*state, ev, w_start, w_end, out);
    mark_dirty(*state);
  } else if (!ev.readings.empty()) {
    // A tenant's events mostly go to its latest window: skip the map walk (cache misses).
    open_window* latest = state->last_window;
    if (!latest || latest->start != w_start) {
      auto [slot, opened] = state->open_windows.try_emplace(w_start);
      latest = &slot->second;
      if (opened) {
        latest->owner = state;
        latest->start = w_start;
        latest->end = w_end;
        due_windows_[w_end].push_back(latest);
      }
      state->last_window = latest;
    }
    open_window& w = *latest;
    mark_dirty(w);
    for (const meter_reading& r : ev.readings) {
      const meter& m = state->cat->meters[r.meter];
      window_meter& wm = w.meters[r.meter];
      wm.groups[r.group].add(window_kind(m), r.value, r.text, ev.time, ev.id);
      ++wm.events;
    }
  }

  if (!stream_time_ || ev.time > *stream_time_) stream_time_ = ev.time;
  advance(out, /*drain=*/false);
}

// Events are decoded with the current catalog; a segment that started under an earlier one
// (before a reload) rates with that one, whose meters may be numbered differently.
void engine::remap_readings(const catalog& segment_catalog, decoded_event& ev) const {
  size_t kept = 0;
  for (meter_reading& r : ev.readings) {
    const std::string& key = catalog_->meters[r.meter].key;
    for (uint32_t i = 0; i < segment_catalog.meters.size(); ++i) {
      if (segment_catalog.meters[i].key == key) {
        r.meter = i;
        if (&ev.readings[kept] != &r) ev.readings[kept] = std::move(r);  // no self-move
        ++kept;
        break;
      }
    }
  }
  ev.readings.resize(kept);
}

bool engine::too_late(std::string_view raw, const decoded_event& ev, const period& p,
                      output_sink& out) {
  if (!stream_time_ || *stream_time_ <= p.end + options_.settlement) return false;
  dead_letter(raw, ev.subject, dead_letter_reason::too_late,
              "event at " + format_utc(ev.time) + " is past the settlement window of its period (" +
                  format_utc(p.start) + " to " + format_utc(p.end) + "); stream time is " +
                  format_utc(*stream_time_),
              out);
  return true;
}

// Consecutive events nearly always share an expiry (their period's end): remember the last
// map nodes instead of searching the maps per event. std::map nodes are stable until erased;
// expire() and checkpoint() forget the cached ones when they erase any.
void engine::note_new_dedup(int64_t expires, hash128 key, hash128 fingerprint) {
  const bool persist = options_.persist;
  if (!last_dedup_live_ || (persist && !last_new_dedup_) || last_dedup_expires_ != expires) {
    last_dedup_live_ = &dedup_live_[expires];
    if (persist) last_new_dedup_ = &new_dedup_[expires];
    last_dedup_expires_ = expires;
  }
  ++*last_dedup_live_;
  if (persist) last_new_dedup_->emplace_back(key, fingerprint);
}

// Without persistence nothing is marked: no checkpoint would ever take the lists.
void engine::mark_dirty(segment_state& s) {
  if (s.dirty || !options_.persist) return;
  s.dirty = true;
  s.dirty_slot = dirty_segments_.size();
  dirty_segments_.push_back(&s);
}

void engine::mark_dirty(open_window& w) {
  if (w.dirty || !options_.persist) return;
  w.dirty = true;
  w.dirty_slot = dirty_windows_.size();
  dirty_windows_.push_back(&w);
}

engine::window_key engine::key_of(const open_window& w) {
  return window_key{w.end, w.owner->owner, w.owner->seg.start.ms, w.start};
}

// ---- rating --------------------------------------------------------------------------------

engine::rated engine::rate_charge(segment_state& s, size_t charge_index) {
  const catalog& cat = *s.cat;
  const charge& c = s.version->charges[charge_index];
  charge_progress& cp = s.charges[charge_index];
  rated r;
  r.quantity = s.meters[c.meter_index].quantity;
  r.cost = cost_of(c, r.quantity);
  auto amount = r.cost.total.round(cat.rounding_scale, cat.rounding);
  MF_ASSERT(amount.has_value(), "charge amount overflows the decimal range");
  r.before = cp.amount;
  r.after = *amount;
  cp.quantity = r.quantity;
  cp.amount = r.after;
  return r;
}

namespace {

// Recomputes a window_aggregation meter's quantity after one (window, group) result changed
// from `old_value` (nullopt: new) to the current value of `changed`.
void update_window_quantity(const meter& m, meter_progress& mp, std::optional<decimal> old_value,
                            decimal new_value) {
  if (m.agg == aggregation::sum) {
    mp.quantity = *mp.quantity.checked_add(new_value)->checked_sub(old_value.value_or(decimal{}));
    return;
  }
  if (m.agg == aggregation::max && (!old_value || new_value >= *old_value) &&
      !mp.window_results.empty()) {
    if (mp.window_results.size() == 1 || new_value > mp.quantity) mp.quantity = new_value;
    return;
  }
  if (m.agg == aggregation::count) {
    mp.quantity = decimal::from_int(static_cast<int64_t>(mp.window_results.size()));
    return;
  }
  aggregate all;
  for (const auto& [key, a] : mp.window_results) {
    decimal w = a.quantity(*m.window_agg);
    all.add(m.agg, w, w.to_string(), timestamp{key.first}, key.second);
  }
  mp.quantity = all.quantity(m.agg);
}

// Adds a window's aggregate for one group into a meter's progress. The unique_count members of
// `a` move into the segment's set (node splicing, no string copies): `a` dies right after.
// `persist`: note what changed for the next checkpoint (engine_options::persist).
void merge_into(const meter& m, meter_progress& mp, int64_t window_start,
                const std::string& group, aggregate& a, bool persist) {
  if (!m.window_agg) {
    if (m.agg == aggregation::unique_count) {
      if (a.count == 0) return;  // as aggregate::merge
      auto& members = mp.closed.members();
      if (a.distinct) {
        auto& from = *a.distinct;
        for (auto it = from.begin(); it != from.end();) {
          auto r = members.insert(from.extract(it++));  // erasing keeps other iterators valid
          // New members reach the store in the next checkpoint's chunk (engine_state.cc).
          if (r.inserted && persist) mp.unsaved_members.push_back(&*r.position);
        }
      }
      mp.closed.count += a.count;
    } else {
      mp.closed.merge(m.agg, a);
    }
    mp.quantity = mp.closed.quantity(m.agg);
    return;
  }
  auto [it, inserted] = mp.window_results.try_emplace({window_start, group});
  std::optional<decimal> old_value;
  if (!inserted) old_value = it->second.quantity(*m.window_agg);
  it->second.merge(*m.window_agg, a);
  if (persist) mp.unsaved_results.push_back(it->first);  // for the next checkpoint's delta chunk
  update_window_quantity(m, mp, old_value, it->second.quantity(*m.window_agg));
}

}  // namespace

int64_t engine::next_seq(const segment_state& s) {
  return ++seq_[{s.owner, s.seg.billing_period.start.ms}];
}

namespace {

// A window's quantity per group, as its charge line lists them: views of the window's group keys.
// Nearly every window meter has one group: held inline, no allocation per line.
using group_quantities = boost::container::small_vector<std::pair<std::string_view, decimal>, 1>;

struct line_fields {
  bool adjustment = false;
  std::string_view kind;
  const meter* m = nullptr;
  timestamp window_start, window_end;
  std::optional<decimal> quantity, segment_quantity;
  decimal amount;
  const usage_cost* cost = nullptr;
  const group_quantities* groups = nullptr;
  int64_t events = 0;
  bool prorated = false;
  hash128 id;
  // adjustments
  bool next_period = false;
  const decoded_event* cause = nullptr;
};

}  // namespace

// The members every line of a segment shares, serialised once per segment.
static const std::string& segment_members(engine::segment_state& s) {
  if (s.json_members.empty()) {
    json_writer w(s.json_members);
    w.member("tenant", s.owner->name);
    w.member("plan", s.p->key);
    w.member("plan_version", s.version->effective_from);
    w.member("currency", s.p->currency);
    w.member("period_start", s.seg.billing_period.start);
    w.member("period_end", s.seg.billing_period.end);
    w.member("segment_start", s.seg.start);
    w.member("segment_end", s.seg.end);
  }
  return s.json_members;
}

// Appends the line's JSON to `out` (a sink's buffer, which may hold earlier lines).
static void format_line(std::string& out, engine::segment_state& s, const line_fields& f,
                        int64_t seq, quoted_utc_cache& instants) {
  const catalog& cat = *s.cat;
  const segment& seg = s.seg;
  json_writer w(out);
  w.begin_object();
  w.member("record", f.adjustment ? "adjustment" : "charge");
  w.key("id").value(f.adjustment ? "a-" : "c-", f.id);
  w.member("kind", f.kind);
  if (f.m) w.member("meter", f.m->key);
  w.raw_members(segment_members(s));
  w.key("window_start").raw(instants.get(f.window_start));
  w.key("window_end").raw(instants.get(f.window_end));
  if (f.quantity) w.member("quantity", *f.quantity);
  if (f.segment_quantity) w.member("segment_quantity", *f.segment_quantity);
  w.key("amount").fixed_value(f.amount, cat.rounding_scale, cat.rounding);
  if (f.cost) {
    w.key("breakdown").begin_array();
    for (const tier_share& t : f.cost->breakdown) {
      w.begin_object();
      w.member("tier", int64_t{t.tier});
      w.member("units", t.units);
      w.member("unit_price", t.unit_price);
      if (t.flat_price) w.member("flat_price", *t.flat_price);
      auto rounded = t.cost.round(cat.rounding_scale, cat.rounding);
      if (rounded)
        w.key("amount").fixed_value(*rounded, cat.rounding_scale, rounding_mode::half_even);
      else
        w.member("amount", "0");
      w.end_object();
    }
    w.end_array();
  }
  if (f.groups && f.m && !f.m->group_by.empty()) {
    w.key("groups").begin_array();
    for (const auto& [encoded, q] : *f.groups) {
      w.begin_object().key("group").begin_object();
      for (const group_value& g : decode_group(*f.m, encoded)) {
        w.key(g.name);
        if (g.is_null)
          w.null();
        else
          w.value(g.value);
      }
      w.end_object();
      w.member("quantity", q);
      w.end_object();
    }
    w.end_array();
  }
  if (f.prorated) {
    w.member("segment_seconds", (seg.end - seg.start).count() / 1000);
    w.member("period_seconds", (seg.billing_period.end - seg.billing_period.start).count() / 1000);
  }
  w.member("events", f.events);
  w.member("seq", seq);
  if (f.adjustment) {
    w.member("reason", "late_event");
    w.member("applies_to", f.next_period ? "next_period" : "current_period");
    w.member("event_id", f.cause->id);
    w.member("event_source", f.cause->source);
  }
  w.end_object();
}

// Writes one charge or adjustment line straight into the sink's buffer.
static void emit_line(output_sink& out, output_kind kind, engine::segment_state& s,
                      const line_fields& f, int64_t seq, quoted_utc_cache& instants) {
  format_line(out.begin(kind, s.owner->name), s, f, seq, instants);
  out.end();
}

void engine::emit_alerts(segment_state& s, size_t charge_index, timestamp at,
                         output_sink& out) {
  const charge& c = s.version->charges[charge_index];
  charge_progress& cp = s.charges[charge_index];
  if (cp.alerts_fired >= c.alerts.size()) return;  // the common case: nothing left to fire
  auto included = included_quantity(c);
  if (!included) return;
  const exact q100 = exact::product(cp.quantity, decimal::from_int(100));
  while (cp.alerts_fired < c.alerts.size()) {
    decimal pct = c.alerts[cp.alerts_fired];
    if (q100 < exact::product(*included, pct)) break;
    // limit = included x pct / 100, shown at 12 fractional digits
    auto limit = exact::product(*included, pct).round(decimal::scale, rounding_mode::half_even);
    decimal limit_value = limit ? decimal::from_raw(limit->raw() / 100) : decimal{};
    json_writer w(out.begin(output_kind::alert, s.owner->name));
    w.begin_object();
    w.member("record", "alert");
    w.member("id", "al-" + to_hex(hasher()
                                       .field("alert")
                                       .field(s.owner->name)
                                       .field(s.seg.start.ms)
                                       .field(static_cast<int64_t>(charge_index))
                                       .field(pct.to_string())
                                       .digest()));
    w.member("tenant", s.owner->name);
    w.member("plan", s.p->key);
    w.member("meter", c.meter);
    w.member("threshold", pct.to_string());
    w.member("quantity", cp.quantity.to_string());
    w.member("limit", limit_value.to_string());
    w.member("time", at);
    w.member("period_start", s.seg.billing_period.start);
    w.member("segment_start", s.seg.start);
    w.end_object();
    out.end();
    ++cp.alerts_fired;
  }
}

// ---- windows, segments, late events ---------------------------------------------------------

void engine::close_window(open_window& w, output_sink& out) {
  const window_key key = key_of(w);
  segment_state& s = *w.owner;
  const catalog& cat = *s.cat;

  // Per meter: fold the window into the segment, remembering the window's own quantity.
  struct window_result {
    decimal quantity;
    group_quantities groups;
    int64_t events = 0;
  };
  inline_map<uint32_t, window_result, 4> results;  // as the window's meters: no allocation
  for (auto& [meter_index, wm] : w.meters) {
    const meter& m = cat.meters[meter_index];
    meter_progress& mp = s.meters[meter_index];
    window_result& wr = results[meter_index];
    wr.events = wm.events;
    aggregate whole;  // the window's own quantity, across groups
    for (auto& [group, a] : wm.groups) {
      decimal gq = a.quantity(window_kind(m));
      wr.groups.emplace_back(group, gq);
      if (m.window_agg)
        // Only a unique_count of window results compares their text.
        whole.add(m.agg, gq, m.agg == aggregation::unique_count ? gq.to_string() : std::string(),
                  timestamp{key.start}, group);
      else if (wm.groups.size() > 1)  // one group: the window's quantity is the group's
        whole.merge(m.agg, a);
      merge_into(m, mp, key.start, group, a, options_.persist);
    }
    wr.quantity = !m.window_agg && wm.groups.size() == 1 ? wr.groups.front().second
                                                          : whole.quantity(m.agg);
  }

  const auto& charges = s.version->charges;
  for (size_t i = 0; i < charges.size(); ++i) {
    const charge& c = charges[i];
    if (c.type != charge_type::usage) continue;
    auto found = results.find(c.meter_index);
    if (found == results.end()) continue;
    rated r = rate_charge(s, i);
    line_fields f;
    f.kind = "usage";
    f.m = &cat.meters[c.meter_index];
    f.window_start = timestamp{key.start};
    f.window_end = timestamp{key.end};
    f.quantity = found->second.quantity;
    f.segment_quantity = r.quantity;
    f.amount = decimal::from_raw(r.after.raw() - r.before.raw());
    f.cost = &r.cost;
    f.groups = &found->second.groups;
    f.events = found->second.events;
    f.id = hasher()
               .field("charge")
               .field(s.owner->name)
               .field(s.seg.start.ms)
               .field(static_cast<int64_t>(i))
               .field(key.start)
               .digest();
    emit_line(out, output_kind::charge, s, f, next_seq(s), instants_);
    emit_alerts(s, i, timestamp{key.end}, out);
  }
  mark_dirty(s);
  // Most windows open and close between two checkpoints: only a stored one leaves a key behind.
  if (w.stored) deleted_windows_.push_back(key);
  if (w.dirty) dirty_windows_[w.dirty_slot] = nullptr;
  if (s.last_window == &w) s.last_window = nullptr;
  s.open_windows.erase(key.start);  // destroys w
}

void engine::close_due_windows(output_sink& out) {
  std::vector<open_window*> due = std::move(due_windows_.begin()->second);
  due_windows_.erase(due_windows_.begin());
  // All have the same end: window_key order is tenant, segment start, start.
  std::sort(due.begin(), due.end(), [](const open_window* a, const open_window* b) {
    if (int c = compare_names(a->owner->owner, b->owner->owner)) return c < 0;
    const timestamp sa = a->owner->seg.start, sb = b->owner->seg.start;
    return sa != sb ? sa < sb : a->start < b->start;
  });
  for (open_window* w : due) close_window(*w, out);
}

namespace {
decimal usage_and_recurring_total(const std::vector<charge>& charges,
                                  const std::vector<charge_progress>& progress,
                                  decimal recurring_total) {
  decimal total = recurring_total;
  for (size_t i = 0; i < charges.size(); ++i)
    if (charges[i].type == charge_type::usage) total = *total.checked_add(progress[i].amount);
  return total;
}

// round(amount x segment seconds / period seconds): recurring fees and minimum floors.
decimal prorated(const engine::segment_state& s, decimal amount) {
  const catalog& cat = *s.cat;
  auto r = round_ratio(amount, (s.seg.end - s.seg.start).count(),
                       (s.seg.billing_period.end - s.seg.billing_period.start).count(),
                       cat.rounding_scale, cat.rounding);
  MF_ASSERT(r.has_value(), "prorated amount overflows the decimal range");
  return *r;
}

// What the segment owes under a minimum charge on top of its usage and recurring amounts.
decimal minimum_true_up(const engine::segment_state& s, const charge& minimum) {
  decimal floor = prorated(s, minimum.amount);
  decimal total = usage_and_recurring_total(s.version->charges, s.charges, s.recurring_total);
  return total < floor ? *floor.checked_sub(total) : decimal{};
}
}  // namespace

void engine::finalise_segment(segment_state& s, output_sink& out) {
  const auto& charges = s.version->charges;
  auto emit = [&](size_t i, std::string_view kind, decimal amount) {
    line_fields f;
    f.kind = kind;
    f.window_start = s.seg.start;
    f.window_end = s.seg.end;
    f.amount = amount;
    f.prorated = true;
    f.id = hasher()
               .field("charge")
               .field(s.owner->name)
               .field(s.seg.start.ms)
               .field(static_cast<int64_t>(i))
               .field(s.seg.start.ms)
               .digest();
    emit_line(out, output_kind::charge, s, f, next_seq(s), instants_);
  };

  for (size_t i = 0; i < charges.size(); ++i) {
    if (charges[i].type != charge_type::recurring) continue;
    decimal amount = prorated(s, charges[i].amount);
    s.recurring_total = *s.recurring_total.checked_add(amount);
    emit(i, "recurring", amount);
  }
  for (size_t i = 0; i < charges.size(); ++i) {
    if (charges[i].type != charge_type::minimum) continue;
    s.minimum_amount = minimum_true_up(s, charges[i]);
    emit(i, "minimum", s.minimum_amount);
  }
  s.final = true;
  mark_dirty(s);
  int64_t expires = (s.seg.billing_period.end + options_.settlement).ms;
  segment_expiry_[expires].push_back(segment_key{s.owner, s.seg.start.ms});
}

void engine::apply_late(segment_state& s, const decoded_event& ev, int64_t w_start,
                        int64_t w_end, output_sink& out) {
  const catalog& cat = *s.cat;

  // meter -> the event's own quantity for it (its value; 1 for count and unique_count)
  std::map<uint32_t, decimal> touched;
  for (const meter_reading& r : ev.readings) {
    const meter& m = cat.meters[r.meter];
    aggregate one;
    one.add(window_kind(m), r.value, r.text, ev.time, ev.id);
    touched[r.meter] = one.quantity(window_kind(m));  // before merge_into takes its members
    merge_into(m, s.meters[r.meter], w_start, r.group, one, options_.persist);
  }

  const auto& charges = s.version->charges;
  auto emit = [&](size_t i, std::string_view kind, const meter* m, decimal amount,
                  const rated* r) {
    line_fields f;
    f.adjustment = true;
    f.kind = kind;
    f.m = m;
    f.window_start = timestamp{w_start};
    f.window_end = timestamp{w_end};
    if (r) {
      f.quantity = touched[charges[i].meter_index];
      f.segment_quantity = r->quantity;
      f.cost = &r->cost;
    }
    f.amount = amount;
    f.prorated = !m;  // a minimum adjustment shows the proration of its floor
    f.events = m ? 1 : 0;
    f.next_period = s.final;
    f.cause = &ev;
    f.id = hasher().field("adjustment").field(ev.key).field(static_cast<int64_t>(i)).digest();
    emit_line(out, output_kind::adjustment, s, f, next_seq(s), instants_);
  };

  for (size_t i = 0; i < charges.size(); ++i) {
    const charge& c = charges[i];
    if (c.type != charge_type::usage || !touched.contains(c.meter_index)) continue;
    rated r = rate_charge(s, i);
    emit(i, "usage", &cat.meters[c.meter_index],
         decimal::from_raw(r.after.raw() - r.before.raw()), &r);
    emit_alerts(s, i, ev.time, out);
  }
  if (!s.final) return;
  // After finalisation the minimum true-up follows the usage total.
  for (size_t i = 0; i < charges.size(); ++i) {
    if (charges[i].type != charge_type::minimum) continue;
    decimal true_up = minimum_true_up(s, charges[i]);
    if (true_up == s.minimum_amount) continue;
    decimal delta = *true_up.checked_sub(s.minimum_amount);
    s.minimum_amount = true_up;
    emit(i, "minimum", nullptr, delta, nullptr);
  }
}

// ---- stream time -----------------------------------------------------------------------------

std::optional<timestamp> engine::close_horizon() const {
  if (!closed_through_) return stream_time_;
  if (!stream_time_) return closed_through_;
  return std::max(*stream_time_, *closed_through_);
}

void engine::close_idle(timestamp wall_clock, output_sink& out) {
  if (closed_through_ && wall_clock <= *closed_through_) return;
  closed_through_ = wall_clock;
  advance(out, /*drain=*/false);
}

void engine::advance(output_sink& out, bool drain) {
  const auto horizon = close_horizon();
  if (!horizon) return;
  const int64_t now = horizon->ms;
  const int64_t grace = options_.grace.count();
  // Segments exist once stream time reaches their start, events or not.
  while (!segment_starts_.empty() && segment_starts_.begin()->start <= now) {
    start_key sk = *segment_starts_.begin();
    segment_starts_.erase(segment_starts_.begin());
    planned_start_.erase(sk.tenant);
    if (auto s = subscription_book::segment_at(*sk.tenant, timestamp{sk.start})) {
      std::string why;
      segment_for(*sk.tenant, *s, why);  // a segment without a plan version bills nothing
      schedule_next_segment(*sk.tenant, s->end);
    }
  }
  // Windows and segments in order of due time; windows first at equal times.
  for (;;) {
    auto w = due_windows_.begin();
    auto d = due_segments_.begin();
    bool window_due = w != due_windows_.end() && (drain || w->first + grace <= now);
    bool segment_due = d != due_segments_.end() && (drain || d->end + grace <= now);
    if (window_due && (!segment_due || w->first <= d->end)) {
      close_due_windows(out);
    } else if (segment_due) {
      auto s = segments_.find(d->key);
      due_segments_.erase(d);
      if (s != segments_.end() && !s->second->final) finalise_segment(*s->second, out);
    } else {
      break;
    }
  }
  expire();
}

void engine::expire() {
  if (!stream_time_) return;
  const int64_t now = stream_time_->ms;
  // An event is too_late once stream time > period end + settlement: its dedup key and its
  // segment's state can no longer matter.
  while (!dedup_live_.empty() && dedup_live_.begin()->first < now) {
    dedup_expired_ += dedup_live_.begin()->second;
    if (auto blocks = dedup_blocks_.find(dedup_live_.begin()->first);
        blocks != dedup_blocks_.end()) {
      for (int64_t b : blocks->second) expired_dedup_blocks_.emplace_back(blocks->first, b);
      dedup_blocks_.erase(blocks);
    }
    dedup_live_.erase(dedup_live_.begin());
    last_dedup_live_ = nullptr;
  }
  // Sweep the expired keys once they are a quarter of the table: each sweep is one pass over
  // it, so the cost per expired key stays constant.
  if (dedup_expired_ > 0 && dedup_expired_ * 4 >= static_cast<int64_t>(dedup_.size())) {
    dedup_.sweep(now);
    dedup_expired_ = 0;
  }
  while (!segment_expiry_.empty() && segment_expiry_.begin()->first < now) {
    for (const segment_key& k : segment_expiry_.begin()->second) {
      auto it = segments_.find(k);
      if (it == segments_.end()) continue;
      seq_.erase({k.tenant, it->second->seg.billing_period.start.ms});
      if (segment_state*& c = current_segment_[k.tenant->index]; c == it->second.get())
        c = nullptr;
      for (int64_t chunk = 0; chunk < it->second->chunks; ++chunk)
        deleted_chunks_.push_back(delta_chunk_key(k.tenant->name, k.start, chunk));
      if (it->second->dirty) dirty_segments_[it->second->dirty_slot] = nullptr;
      segments_.erase(it);
      if (options_.persist) deleted_segments_.push_back(k);
    }
    segment_expiry_.erase(segment_expiry_.begin());
  }
}

void engine::finish(output_sink& out) { advance(out, /*drain=*/true); }

}  // namespace meterflow
