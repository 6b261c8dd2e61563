// The engine's in-memory state, shared by its processing (engine.cc) and its persistence
// (engine_state.cc). Private to topology/.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/container/flat_map.hpp>
#include <boost/container/small_vector.hpp>

#include "topology/engine.h"

namespace meterflow {

using tenant = subscription_book::tenant;

// The per-segment and per-window maps below are small (a handful of meters, usually one group)
// and are touched on every event and window close: sorted vectors keep each in one or two cache
// lines and iterate in the same order as std::map did (the state encoding depends on it).
template <class K, class V>
using small_map = boost::container::flat_map<K, V>;
// The same with room for N entries inside the object: an open window's meters and their groups
// need no heap blocks of their own while they fit (one allocation and one dependent cache miss
// fewer per level, per window and on every event). Windows stay put in their segment's map,
// so the larger objects are never moved.
template <class K, class V, size_t N>
using inline_map = boost::container::flat_map<K, V, std::less<K>,
                                              boost::container::small_vector<std::pair<K, V>, N>>;

// Per meter, what the closed windows of a segment (and late events) add up to.
struct meter_progress {
  aggregate closed;  // meters without window_aggregation: every counted event
  // meters with window_aggregation: the aggregate of each (window start, group)
  // Appended in window order, so inserting at the end is the common case.
  small_map<std::pair<int64_t, std::string>, aggregate> window_results;
  decimal quantity;  // the segment quantity Q of the closed part
  // The parts of this progress that grow through the period (the unique_count members of
  // `closed`, the window results) are stored apart from the segment record, in append-only
  // delta chunks of the segment (engine_state.cc), so a checkpoint writes what changed:
  std::vector<const std::string*> unsaved_members;  // nodes of closed.distinct added since
  std::vector<std::pair<int64_t, std::string>> unsaved_results;  // window_results keys changed
};

// Per usage charge: what has been emitted so far (incremental rating).
struct charge_progress {
  decimal quantity;
  decimal amount;
  size_t alerts_fired = 0;
};

struct window_meter {
  inline_map<std::string, aggregate, 1> groups;  // by encoded group ("" without group_by)
  int64_t events = 0;
};

struct engine::open_window {
  segment_state* owner = nullptr;
  int64_t start = 0;  // [start, end): its key in the store is (end, tenant, segment start, start)
  int64_t end = 0;
  inline_map<uint32_t, window_meter, 4> meters;  // most windows see a few of the meters
  bool dirty = false;     // changed since the last checkpoint
  bool stored = false;    // written to the store: closing it must delete its key
  size_t dirty_slot = 0;  // while dirty: its index in engine::dirty_windows_
};

struct engine::segment_state {
  const tenant* owner = nullptr;
  segment seg;            // seg.plan views plan_key
  std::string plan_key;
  std::shared_ptr<const catalog> cat;  // the catalog the segment is rated with
  const plan* p = nullptr;
  const plan_version* version = nullptr;
  small_map<uint32_t, meter_progress> meters;
  std::vector<charge_progress> charges;
  bool final = false;
  decimal recurring_total;  // recurring amounts emitted at finalisation
  decimal minimum_amount;   // the true-up emitted so far
  // Open windows of this segment by start. Map nodes stay put, so engine::due_windows_ and
  // engine::dirty_windows_ point at them.
  std::map<int64_t, engine::open_window> open_windows;
  engine::open_window* last_window = nullptr;  // the one the last event went to, if still open
  bool dirty = false;     // changed since the last checkpoint
  size_t dirty_slot = 0;  // while dirty: its index in engine::dirty_segments_
  int64_t chunks = 0;  // delta chunks in the store (meter_progress), numbered 0..chunks-1
  std::string json_members;  // members shared by all its output lines, built on first use
};

}  // namespace meterflow
