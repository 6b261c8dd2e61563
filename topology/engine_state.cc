// Persistence of the engine's state in a kv_store.
//
// Key layout (one family per prefix byte):
//   'd' expires(key_i64) block(key_i64)        -> (key-hash(16) fingerprint(16))*   dedup keys
//       accepted in one checkpoint, packed per expiry: one put per checkpoint and expiry instead
//       of one per event; an expired block is deleted by its key
//   's' tenant(key_str) segment-start(key_i64) -> segment_state      closed windows, emitted amounts
//   'c' tenant(key_str) segment-start(key_i64) chunk(key_i64)
//       -> meters(i64) (meter(str) n(i64) member(str)*n m(i64) (window-start(i64) group(str)
//          aggregate)*m)*meters
//       a delta chunk of a segment: per meter, the unique_count members added to its closed
//       part and the window results that changed since the previous checkpoint. The parts of a
//       segment that grow through its period live only in these append-only chunks, so a
//       commit costs what changed rather than the segment's size. Restore applies the chunks
//       in order (members are added, a window result replaces the earlier one). Chunks are
//       numbered 0.. per segment and deleted by key with it.
//   'w' end(key_i64) tenant(key_str) segment-start start -> open window aggregates
//   'm'                                        -> stream time, counters, seq per (tenant, period)
// Segments store plan and meter keys, not indexes, so a catalog whose meters were reordered
// still restores; a version that disappeared is an error rather than a silent re-rating.

#include <algorithm>

#include "base/assert.h"
#include "topology/codec.h"
#include "topology/detail/engine_state.h"

namespace meterflow {

namespace {

constexpr char dedup_prefix = 'd';
constexpr char segment_prefix = 's';
constexpr char window_prefix = 'w';
constexpr char chunk_prefix = 'c';
const std::string meta_key = "m";

// `members`: false for a segment's closed aggregate, whose members are kept in chunks.
void write_aggregate(byte_writer& w, const aggregate& a, bool members = true) {
  w.i64(a.count).dec(a.value).i64(a.latest_time().ms).str(a.latest_tiebreak());
  if (!members || a.member_count() == 0) {  // all but unique_count: skip the sort's vector
    w.i64(0);
    return;
  }
  std::vector<std::string_view> distinct(a.distinct->begin(), a.distinct->end());
  std::sort(distinct.begin(), distinct.end());  // the same state gives the same bytes
  w.i64(static_cast<int64_t>(distinct.size()));
  for (auto d : distinct) w.str(d);
}

bool read_aggregate(byte_reader& r, aggregate& a) {
  int64_t n = 0;
  timestamp latest_time;
  std::string latest_tiebreak;
  if (!(r.i64(a.count) && r.dec(a.value) && r.i64(latest_time.ms) && r.str(latest_tiebreak) &&
        r.i64(n)) || n < 0)
    return false;
  if (latest_time.ms != INT64_MIN || !latest_tiebreak.empty())
    a.latest = std::make_unique<aggregate::latest_key>(latest_time, std::move(latest_tiebreak));
  std::string s;
  for (int64_t i = 0; i < n; ++i) {
    if (!r.str(s)) return false;
    a.members().insert(s);
  }
  return true;
}

// Values are sized up front (a rough bound; appends grow it if exceeded): a checkpoint encodes
// every dirty segment and window, and growing each string by appends reallocates it repeatedly.
std::string encode_segment(const engine::segment_state& s, const catalog& cat) {
  std::string out;
  out.reserve(96 + s.plan_key.size() + s.meters.size() * 112 + s.charges.size() * 40);
  byte_writer w(out);
  w.i64(s.seg.billing_period.start.ms).i64(s.seg.billing_period.end.ms);
  w.i64(s.seg.end.ms).str(s.plan_key).i64(s.version->effective_from.ms);
  w.i64(static_cast<int64_t>(s.meters.size()));
  for (const auto& [index, mp] : s.meters) {
    w.str(cat.meters[index].key);
    write_aggregate(w, mp.closed, /*members=*/false);
    w.i64(0);  // window results: in the delta chunks
    w.dec(mp.quantity);
  }
  w.i64(static_cast<int64_t>(s.charges.size()));
  for (const charge_progress& c : s.charges)
    w.dec(c.quantity).dec(c.amount).i64(static_cast<int64_t>(c.alerts_fired));
  w.u8(s.final ? 1 : 0).dec(s.recurring_total).dec(s.minimum_amount);
  return out;
}

std::string encode_window(const engine::open_window& win, const catalog& cat) {
  std::string out;
  out.reserve(8 + win.meters.size() * 128);
  byte_writer w(out);
  w.i64(static_cast<int64_t>(win.meters.size()));
  for (const auto& [index, wm] : win.meters) {
    w.str(cat.meters[index].key).i64(wm.events);
    w.i64(static_cast<int64_t>(wm.groups.size()));
    for (const auto& [group, a] : wm.groups) {
      w.str(group);
      write_aggregate(w, a);
    }
  }
  return out;
}

std::optional<uint32_t> meter_index(const catalog& cat, const std::string& key) {
  for (uint32_t i = 0; i < cat.meters.size(); ++i)
    if (cat.meters[i].key == key) return i;
  return std::nullopt;
}

}  // namespace

// Store keys are sized up front: built by appends they would reallocate two or three times, and
// a checkpoint builds one per dirty window and segment.
std::string engine::segment_store_key(const std::string& tenant_name, int64_t start) {
  std::string k;
  k.reserve(1 + 4 + tenant_name.size() + 8);
  k += segment_prefix;
  byte_writer(k).key_str(tenant_name).key_i64(start);
  return k;
}

std::string engine::delta_chunk_key(const std::string& tenant_name, int64_t segment_start,
                                    int64_t chunk) {
  std::string k;
  k.reserve(1 + 4 + tenant_name.size() + 8 + 8);
  k += chunk_prefix;
  byte_writer(k).key_str(tenant_name).key_i64(segment_start).key_i64(chunk);
  return k;
}

std::string engine::window_store_key(const window_key& key) {
  std::string k;
  k.reserve(1 + 8 + 4 + key.tenant->name.size() + 8 + 8);
  k += window_prefix;
  byte_writer(k).key_i64(key.end).key_str(key.tenant->name).key_i64(key.segment_start).key_i64(
      key.start);
  return k;
}

void engine::checkpoint(state::write_batch& batch) {
  MF_ASSERT(options_.persist, "engine::checkpoint on an engine without persistence");
  // One put or delete per entry of each change list (two per dirty segment: record and chunk).
  batch.reserve_more(new_dedup_.size() + expired_dedup_blocks_.size() + deleted_segments_.size() +
                     deleted_chunks_.size() + 2 * dirty_segments_.size() +
                     deleted_windows_.size() + dirty_windows_.size() + 1);
  // New dedup keys, grouped by expiry (few distinct values: one per billing period end), in
  // order of expiry and, within one, of acceptance.
  for (auto& [expires, keys] : new_dedup_) {
    if (keys.empty() || !dedup_live_.contains(expires))  // expired since accepted: nothing to keep
      continue;
    dedup_blocks_[expires].push_back(dedup_block_);
    std::string key(1, dedup_prefix);
    byte_writer(key).key_i64(expires).key_i64(dedup_block_++);
    std::string block;
    block.reserve(keys.size() * 2 * sizeof(hash128));
    byte_writer w(block);
    for (const auto& [k, fingerprint] : keys)
      w.raw(&k, sizeof(hash128)).raw(&fingerprint, sizeof(hash128));
    batch.put(std::move(key), std::move(block));
  }
  new_dedup_.clear();
  last_new_dedup_ = nullptr;
  for (const auto& [expires, block] : expired_dedup_blocks_) {
    std::string key(1, dedup_prefix);
    byte_writer(key).key_i64(expires).key_i64(block);
    batch.del(std::move(key));
  }
  expired_dedup_blocks_.clear();

  for (const segment_key& k : deleted_segments_)
    batch.del(segment_store_key(k.tenant->name, k.start));
  deleted_segments_.clear();
  for (std::string& k : deleted_chunks_) batch.del(std::move(k));
  deleted_chunks_.clear();
  for (segment_state* dirty : dirty_segments_) {
    if (!dirty) continue;  // expired since it changed: deleted above
    segment_state& s = *dirty;
    const segment_key k{s.owner, s.seg.start.ms};
    s.dirty = false;
    batch.put(segment_store_key(k.tenant->name, k.start), encode_segment(s, *s.cat));
    int64_t changed = 0;
    for (const auto& [index, mp] : s.meters)
      changed += !mp.unsaved_members.empty() || !mp.unsaved_results.empty();
    if (changed == 0) continue;
    std::string chunk;
    byte_writer w(chunk);
    w.i64(changed);
    for (auto& [index, mp] : s.meters) {
      if (mp.unsaved_members.empty() && mp.unsaved_results.empty()) continue;
      w.str(s.cat->meters[index].key);
      w.i64(static_cast<int64_t>(mp.unsaved_members.size()));
      // In byte order: the same state gives the same bytes (sets iterate in no fixed order).
      std::sort(mp.unsaved_members.begin(), mp.unsaved_members.end(),
                [](const std::string* a, const std::string* b) { return *a < *b; });
      for (const std::string* m : mp.unsaved_members) w.str(*m);
      // Each changed result once, at its current value, in window order.
      std::sort(mp.unsaved_results.begin(), mp.unsaved_results.end());
      mp.unsaved_results.erase(std::unique(mp.unsaved_results.begin(), mp.unsaved_results.end()),
                               mp.unsaved_results.end());
      w.i64(static_cast<int64_t>(mp.unsaved_results.size()));
      for (const auto& key : mp.unsaved_results) {
        w.i64(key.first).str(key.second);
        write_aggregate(w, mp.window_results.at(key));
      }
      mp.unsaved_members.clear();
      mp.unsaved_results.clear();
    }
    batch.put(delta_chunk_key(k.tenant->name, k.start, s.chunks++), std::move(chunk));
  }
  dirty_segments_.clear();

  for (const window_key& k : deleted_windows_) batch.del(window_store_key(k));
  deleted_windows_.clear();
  for (open_window* w : dirty_windows_) {
    if (!w) continue;  // closed since it changed: deleted above
    w->dirty = false;
    w->stored = true;
    batch.put(window_store_key(key_of(*w)), encode_window(*w, *w->owner->cat));
  }
  dirty_windows_.clear();

  std::string value;
  byte_writer w(value);
  w.u8(stream_time_ ? 1 : 0).i64(stream_time_ ? stream_time_->ms : 0).i64(dedup_block_);
  w.u8(closed_through_ ? 1 : 0).i64(closed_through_ ? closed_through_->ms : 0);
  w.i64(counters_.accepted).i64(counters_.duplicates);
  for (int64_t n : counters_.dead_letters) w.i64(n);
  w.i64(static_cast<int64_t>(seq_.size()));
  for (const auto& [k, n] : seq_) w.str(k.first->name).i64(k.second).i64(n);
  batch.put(std::string(meta_key), std::move(value));
}

result<void> engine::restore(state::kv_store& store) {
  std::optional<error> failure;
  auto corrupt = [&](std::string_view what, std::string_view detail = {}) {
    if (!failure)
      failure = error{"state store: corrupt " + std::string(what) +
                      (detail.empty() ? "" : ": " + std::string(detail))};
    return false;
  };

  // Meta first: stream time decides what is already due.
  auto meta = store.get(meta_key);
  if (!meta) return std::unexpected(meta.error());
  if (!*meta) return {};  // an empty store: a fresh start
  {
    byte_reader r(**meta);
    uint8_t has_time = 0;
    int64_t t = 0, n = 0;
    uint8_t has_closed = 0;
    int64_t closed = 0;
    bool ok = r.u8(has_time) && r.i64(t) && r.i64(dedup_block_) && r.u8(has_closed) &&
              r.i64(closed) && r.i64(counters_.accepted) &&
              r.i64(counters_.duplicates);
    for (int64_t& c : counters_.dead_letters) ok = ok && r.i64(c);
    ok = ok && r.i64(n) && n >= 0;
    for (int64_t i = 0; ok && i < n; ++i) {
      std::string name;
      int64_t period = 0, seq = 0;
      ok = r.str(name) && r.i64(period) && r.i64(seq);
      const tenant* t = book_.find(name);
      if (!t) return fail("state store: sequence numbers of tenant ", name,
                          ", which has no subscription records");
      seq_[{t, period}] = seq;
    }
    if (!ok || !r.at_end()) return fail("state store: corrupt meta record");
    if (has_time) stream_time_ = timestamp{t};
    if (has_closed) closed_through_ = timestamp{closed};
  }

  auto dedup_scan = store.scan_prefix(std::string(1, dedup_prefix), [&](std::string_view k,
                                                                         std::string_view v) {
    byte_reader r(k);
    int64_t expires = 0, block = 0;
    if (!(r.skip(1) && r.key_i64(expires) && r.key_i64(block) && r.at_end()) ||
        v.size() % (2 * sizeof(hash128)) != 0)
      return corrupt("dedup record");
    dedup_blocks_[expires].push_back(block);
    byte_reader rv(v);
    int64_t& live = dedup_live_[expires];
    for (size_t n = v.size() / (2 * sizeof(hash128)); n > 0; --n) {
      hash128 hash, fingerprint;
      rv.raw(&hash, sizeof hash);
      rv.raw(&fingerprint, sizeof fingerprint);
      // As an insert at the start of time: the first of two equal keys stays, none expired.
      (void)dedup_.insert(hash, fingerprint, expires, INT64_MIN);
      ++live;
    }
    return true;
  });
  if (!dedup_scan) return std::unexpected(dedup_scan.error());
  if (failure) return std::unexpected(*failure);

  auto segment_scan = store.scan_prefix(std::string(1, segment_prefix), [&](std::string_view k,
                                                                             std::string_view v) {
    byte_reader rk(k);
    std::string name;
    int64_t start = 0;
    if (!(rk.skip(1) && rk.key_str(name) && rk.key_i64(start) && rk.at_end()))
      return corrupt("segment key");
    const tenant* t = book_.find(name);
    if (!t) return corrupt("segment", "tenant " + name + " has no subscription records");
    auto s = std::make_unique<segment_state>();
    s->owner = t;
    s->cat = catalog_;
    byte_reader r(v);
    int64_t period_start = 0, period_end = 0, end = 0, version_from = 0, meters = 0;
    if (!(r.i64(period_start) && r.i64(period_end) && r.i64(end) && r.str(s->plan_key) &&
          r.i64(version_from) && r.i64(meters)))
      return corrupt("segment", name);
    s->seg = segment{period{timestamp{period_start}, timestamp{period_end}}, timestamp{start},
                     timestamp{end}, s->plan_key};
    s->p = catalog_->find_plan(s->plan_key);
    if (s->p)
      for (const plan_version& pv : s->p->versions)
        if (pv.effective_from.ms == version_from) s->version = &pv;
    if (!s->version) {
      failure = error{"state store: tenant " + name + " has a segment on plan \"" + s->plan_key +
                      "\" version " + format_utc(timestamp{version_from}) +
                      ", which the catalog no longer defines"};
      return false;
    }
    for (int64_t i = 0; i < meters; ++i) {
      std::string meter_key;
      if (!r.str(meter_key)) return corrupt("segment", name);
      auto index = meter_index(*catalog_, meter_key);
      if (!index) return corrupt("segment", "meter " + meter_key + " is not in the catalog");
      meter_progress& mp = s->meters[*index];
      int64_t windows = 0;
      if (!read_aggregate(r, mp.closed) || !r.i64(windows)) return corrupt("segment", name);
      // A record written before delta chunks holds members and window results inline: the
      // next checkpoint writes them as this meter's first chunk (and the record without them).
      if (mp.closed.distinct)
        for (const std::string& member : *mp.closed.distinct) mp.unsaved_members.push_back(&member);
      for (const auto& [key, a] : mp.window_results) mp.unsaved_results.push_back(key);
      for (int64_t j = 0; j < windows; ++j) {
        int64_t ws = 0;
        std::string group;
        if (!r.i64(ws) || !r.str(group) || !read_aggregate(r, mp.window_results[{ws, group}]))
          return corrupt("segment", name);
      }
      if (!r.dec(mp.quantity)) return corrupt("segment", name);
    }
    int64_t charges = 0;
    if (!r.i64(charges) || charges != static_cast<int64_t>(s->version->charges.size()))
      return corrupt("segment", "the charges of plan " + s->plan_key + " changed in place");
    s->charges.resize(static_cast<size_t>(charges));
    for (charge_progress& c : s->charges) {
      int64_t fired = 0;
      if (!(r.dec(c.quantity) && r.dec(c.amount) && r.i64(fired))) return corrupt("segment", name);
      c.alerts_fired = static_cast<size_t>(fired);
    }
    uint8_t final = 0;
    if (!(r.u8(final) && r.dec(s->recurring_total) && r.dec(s->minimum_amount) && r.at_end()))
      return corrupt("segment", name);
    s->final = final != 0;
    segment_key key{t, start};
    if (s->final)
      segment_expiry_[(s->seg.billing_period.end + options_.settlement).ms].push_back(key);
    else
      due_segments_.insert(due_segment{end, key});
    bool inline_parts = false;
    for (const auto& [index, mp] : s->meters)
      inline_parts |= !mp.unsaved_members.empty() || !mp.unsaved_results.empty();
    segment_state& ref = *segments_.emplace(key, std::move(s)).first->second;
    if (inline_parts) mark_dirty(ref);
    return true;
  });
  if (!segment_scan) return std::unexpected(segment_scan.error());
  if (failure) return std::unexpected(*failure);

  auto chunk_scan = store.scan_prefix(std::string(1, chunk_prefix), [&](std::string_view k,
                                                                         std::string_view v) {
    byte_reader rk(k);
    std::string name;
    int64_t start = 0, chunk = 0;
    if (!(rk.skip(1) && rk.key_str(name) && rk.key_i64(start) && rk.key_i64(chunk) &&
          rk.at_end()) || chunk < 0)
      return corrupt("delta chunk key");
    const tenant* t = book_.find(name);
    auto seg = t ? segments_.find(segment_key{t, start}) : segments_.end();
    if (seg == segments_.end()) return corrupt("delta chunk", "its segment is missing");
    segment_state& s = *seg->second;
    byte_reader r(v);
    int64_t meters = 0;
    if (!r.i64(meters) || meters < 0) return corrupt("delta chunk", name);
    std::string meter_key, text;
    for (int64_t m = 0; m < meters; ++m) {
      if (!r.str(meter_key)) return corrupt("delta chunk", name);
      auto index = meter_index(*catalog_, meter_key);
      auto mp = index ? s.meters.find(*index) : s.meters.end();
      if (mp == s.meters.end())
        return corrupt("delta chunk", "meter " + meter_key + " is not in its segment");
      int64_t members = 0, results = 0;
      if (!r.i64(members) || members < 0) return corrupt("delta chunk", name);
      for (int64_t i = 0; i < members; ++i) {
        if (!r.str(text)) return corrupt("delta chunk", name);
        mp->second.closed.members().insert(text);
      }
      if (!r.i64(results) || results < 0) return corrupt("delta chunk", name);
      for (int64_t i = 0; i < results; ++i) {
        int64_t ws = 0;
        aggregate a;
        if (!r.i64(ws) || !r.str(text) || !read_aggregate(r, a))
          return corrupt("delta chunk", name);
        mp->second.window_results.insert_or_assign(std::pair<int64_t, std::string>(ws, text),
                                                   std::move(a));
      }
    }
    if (!r.at_end()) return corrupt("delta chunk", name);
    s.chunks = std::max(s.chunks, chunk + 1);
    return true;
  });
  if (!chunk_scan) return std::unexpected(chunk_scan.error());
  if (failure) return std::unexpected(*failure);

  auto window_scan = store.scan_prefix(std::string(1, window_prefix), [&](std::string_view k,
                                                                          std::string_view v) {
    byte_reader rk(k);
    std::string name;
    window_key key{};
    if (!(rk.skip(1) && rk.key_i64(key.end) && rk.key_str(name) && rk.key_i64(key.segment_start) &&
          rk.key_i64(key.start) && rk.at_end()))
      return corrupt("window key");
    key.tenant = book_.find(name);
    if (!key.tenant) return corrupt("window", "tenant " + name + " has no subscription records");
    auto owner = segments_.find(segment_key{key.tenant, key.segment_start});
    if (owner == segments_.end()) return corrupt("window", "its segment is missing");
    open_window& w = owner->second->open_windows[key.start];
    w.owner = owner->second.get();
    w.start = key.start;
    w.end = key.end;
    w.stored = true;
    due_windows_[key.end].push_back(&w);
    byte_reader r(v);
    int64_t meters = 0;
    if (!r.i64(meters)) return corrupt("window", name);
    for (int64_t i = 0; i < meters; ++i) {
      std::string meter_key;
      int64_t events = 0, groups = 0;
      if (!(r.str(meter_key) && r.i64(events) && r.i64(groups))) return corrupt("window", name);
      auto index = meter_index(*catalog_, meter_key);
      if (!index) return corrupt("window", "meter " + meter_key + " is not in the catalog");
      window_meter& wm = w.meters[*index];
      wm.events = events;
      for (int64_t j = 0; j < groups; ++j) {
        std::string group;
        if (!r.str(group) || !read_aggregate(r, wm.groups[group])) return corrupt("window", name);
      }
    }
    if (!r.at_end()) return corrupt("window", name);
    return true;
  });
  if (!window_scan) return std::unexpected(window_scan.error());
  if (failure) return std::unexpected(*failure);

  // Segment openings still ahead of stream time.
  segment_starts_.clear();
  planned_start_.clear();
  for (const tenant* t : book_.tenants())
    schedule_next_segment(*t, close_horizon().value_or(timestamp{INT64_MIN}));
  return {};
}

}  // namespace meterflow
