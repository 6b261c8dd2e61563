// The rating engine: one task's processing graph, independent of Kafka and of files.
//
// decode → validate → subscription → lateness → dedup → window → rate → emit. The engine is fed
// raw records in partition order and returns the records to publish; its caller (the offline
// `rate` command, the Kafka task) owns input, output, commits and the clock.
//
// Lifecycle: construct with the options and the catalog; apply every subscription record known
// before processing events (SPEC §3: a task reads its subscriptions to the end first); then call
// process() per input record, or process_batch() for several in order (faster: it overlaps their
// cache misses); finish() at end of input (offline only).
//
// Thread-safety: none; one engine per task, driven by one thread.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <absl/container/flat_hash_map.h>

#include "state/kv_store.h"
#include "topology/aggregate.h"
#include "topology/catalog.h"
#include "topology/dedup_table.h"
#include "topology/event.h"
#include "topology/hash.h"
#include "topology/pricing.h"
#include "topology/subscriptions.h"
#include "topology/time.h"

namespace meterflow {

struct engine_options {
  millis window{3'600'000};          // Tumbling window size. Default: 1 h.
  millis grace{300'000};             // Lateness allowed before a window closes. Default: 300 s.
  millis settlement{172'800'000};    // After a period ends, how long events are still accepted. Default: 48 h.
  decoder_options decoder;           // max.event.bytes, max.future.
  // Whether the engine keeps the change lists checkpoint() writes out. Off, state lives in the
  // engine's memory only and checkpoint() must not be called: for a run whose state is never
  // read back (`meterflow rate --state memory`). Default: on.
  bool persist = true;
  result<void> validate() const;
};

enum class output_kind : uint8_t { charge, adjustment, alert, dead_letter };

// A record to publish. Key = tenant (the event's subject for dead letters, when known).
struct output_record {
  output_kind kind = output_kind::charge;
  std::string key;
  std::string value;  // JSON of the record; for a dead letter the original bytes, unaltered
  dead_letter_reason reason = dead_letter_reason::invalid_json;  // dead letters only
  std::string error;                                             // dead letters only
};

// Where the engine writes the records it emits, in emission order. Charges, adjustments and
// alerts are serialised straight into the string begin() returns (for `meterflow rate`, the
// output file's buffer), so a record costs no string of its own.
class output_sink {
 public:
  virtual ~output_sink() = default;
  // Starts a charge, adjustment or alert keyed by `key` (its tenant). The engine appends the
  // record's JSON to the string returned, which may hold earlier output, then calls end().
  virtual std::string& begin(output_kind kind, std::string_view key) = 0;
  virtual void end() = 0;
  // A dead letter: the original bytes `raw`, unaltered, keyed by `key` (the subject, or empty).
  virtual void dead_letter(std::string_view raw, std::string_view key, dead_letter_reason reason,
                           std::string error) = 0;
};

// A sink that collects output_record values (the Kafka task, tests).
class record_collector final : public output_sink {
 public:
  explicit record_collector(std::vector<output_record>& out) : out_(out) {}
  std::string& begin(output_kind kind, std::string_view key) override;
  void end() override {}
  void dead_letter(std::string_view raw, std::string_view key, dead_letter_reason reason,
                   std::string error) override;

 private:
  std::vector<output_record>& out_;
};

struct engine_counters {
  int64_t accepted = 0;
  int64_t duplicates = 0;
  std::array<int64_t, dead_letter_reason_count> dead_letters{};

  // Sums counts of several engines (the tasks of an instance).
  engine_counters& operator+=(const engine_counters& o) {
    accepted += o.accepted;
    duplicates += o.duplicates;
    for (size_t i = 0; i < dead_letters.size(); ++i) dead_letters[i] += o.dead_letters[i];
    return *this;
  }
};

class engine {
 public:
  engine(engine_options options, std::shared_ptr<const catalog> cat);
  ~engine();

  // Replaces the catalog for segments that start after now (catalog reload); running segments
  // keep the catalog they started with.
  void set_catalog(std::shared_ptr<const catalog> cat) { catalog_ = std::move(cat); }

  // Adds a subscription record. Ok with a warning sentence when part of it is ignored.
  result<std::optional<std::string>> apply_subscription(const subscription_record& r);

  // Processes one input record; writes what it causes to `out` (a dead letter, or charge lines
  // and adjustments of windows and segments that became due). `wall_clock` is used only for the
  // max.future check.
  void process(std::string_view raw, timestamp wall_clock, output_sink& out);
  // process() for each of `raws` in order, with the same outputs, but records are decoded a
  // few ahead of the one applied and what they will touch (dedup slot, tenant's segment, its
  // latest window) starts loading early: among many tenants those are cache misses that
  // process() pays one after another. `before_each(i)`, if set, runs before raws[i] is applied
  // (a sink learns which record its output belongs to).
  void process_batch(std::span<const std::string_view> raws, timestamp wall_clock,
                     output_sink& out, const std::function<void(size_t)>& before_each = {});
  void process(std::string_view raw, timestamp wall_clock, std::vector<output_record>& out) {
    record_collector sink(out);
    process(raw, wall_clock, sink);
  }

  // The idle rule (SPEC §4): a task whose partition has had nothing to read for idle.close closes
  // every window and finalises every segment with wall-clock time >= its end + grace, and opens
  // the segments that began by then. Later events for what it closed are late (adjustments).
  // Stream time does not move: too_late still follows event time only.
  void close_idle(timestamp wall_clock, output_sink& out);
  void close_idle(timestamp wall_clock, std::vector<output_record>& out) {
    record_collector sink(out);
    close_idle(wall_clock, sink);
  }

  // End of input (offline): closes every open window and finalises every segment that has
  // begun by the final stream time, as if the grace had passed.
  void finish(output_sink& out);
  void finish(std::vector<output_record>& out) {
    record_collector sink(out);
    finish(sink);
  }

  // Persistence (DESIGN.md: state stores). checkpoint() adds to `batch` every state change since
  // the previous checkpoint; the caller writes the batch atomically (with its input offsets and
  // outgoing records). restore() loads what a store holds: call it after the subscriptions are
  // applied and before the first process(). A store written by an engine with the same
  // subscriptions restores it exactly; a corrupt value, or state that refers to a plan version
  // the catalog no longer has, is an error.
  void checkpoint(state::write_batch& batch);
  [[nodiscard]] result<void> restore(state::kv_store& store);

  // A hint: about `n` events are coming (offline, estimated from the input's size). Sizes the
  // dedup table for them up front instead of growing it key by key (dedup_table::reserve).
  void expect_events(size_t n) { dedup_.reserve(n); }

  const engine_counters& counters() const { return counters_; }

  // Opaque outside topology/ (defined in topology/detail/engine_state.h).
  struct segment_state;
  struct open_window;
  std::optional<timestamp> stream_time() const { return stream_time_; }

 private:
  struct window_key {
    int64_t end;
    const subscription_book::tenant* tenant;
    int64_t segment_start;
    int64_t start;
  };
  struct segment_key {
    const subscription_book::tenant* tenant;
    int64_t start;
  };
  struct segment_key_less { bool operator()(const segment_key&, const segment_key&) const; };
  struct due_segment { int64_t end; segment_key key; };
  struct due_segment_less { bool operator()(const due_segment&, const due_segment&) const; };
  struct start_key { int64_t start; const subscription_book::tenant* tenant; };
  struct start_key_less { bool operator()(const start_key&, const start_key&) const; };

  void dead_letter(std::string_view raw, std::string_view key, dead_letter_reason reason,
                   std::string error, output_sink& out);
  segment_state* segment_for(const subscription_book::tenant& t, const segment& s,
                             std::string& why);
  segment_state& open_segment(const subscription_book::tenant& t, const segment& s,
                              const plan& p, const plan_version& v);
  void schedule_next_segment(const subscription_book::tenant& t, timestamp from);
  void advance(output_sink& out, bool drain);
  // Closes a window and destroys it (it is a node of its segment's open_windows).
  void close_window(open_window& w, output_sink& out);
  // Closes every window of the earliest due bucket, in window_key order.
  void close_due_windows(output_sink& out);
  void finalise_segment(segment_state& s, output_sink& out);
  // Counts an event whose window [w_start, w_end) has closed: adjustments instead of charges.
  void apply_late(segment_state& s, const decoded_event& ev, int64_t w_start, int64_t w_end,
                  output_sink& out);
  void expire();
  void mark_dirty(segment_state& s);
  void remap_readings(const catalog& segment_catalog, decoded_event& ev) const;
  // What windows and segments are closed by: max(stream time, close_idle's wall clock).
  std::optional<timestamp> close_horizon() const;
  bool too_late(std::string_view raw, const decoded_event& ev, const period& p,
                output_sink& out);
  void mark_dirty(open_window& w);
  static window_key key_of(const open_window& w);
  static std::string window_store_key(const window_key& k);
  static std::string segment_store_key(const std::string& tenant_name, int64_t start);
  static std::string delta_chunk_key(const std::string& tenant_name, int64_t segment_start,
                                     int64_t chunk);

  struct rated {
    decimal quantity;
    decimal before;
    decimal after;
    usage_cost cost;
  };
  rated rate_charge(segment_state& s, size_t charge_index);
  void emit_alerts(segment_state& s, size_t charge_index, timestamp at,
                   output_sink& out);
  int64_t next_seq(const segment_state& s);

  engine_options options_;
  std::shared_ptr<const catalog> catalog_;
  event_decoder decoder_;
  subscription_book book_;
  // Records decoded ahead of their turn (process_batch), in a ring.
  struct ahead {
    decoded_event ev;
    std::optional<decode_failure> failure;
    const subscription_book::tenant* tenant = nullptr;  // null: no subscription
    size_t tenant_index = 0;
  };
  static constexpr size_t lookahead = 8;
  std::array<ahead, lookahead> ahead_;
  void decode_ahead(std::string_view raw, timestamp wall_clock, ahead& a);
  void prefetch_window(const ahead& a) const;
  void apply(std::string_view raw, ahead& a, output_sink& out);
  std::optional<timestamp> stream_time_;
  std::optional<timestamp> closed_through_;  // the wall-clock horizon of close_idle()
  engine_counters counters_;

  // Dedup keys. A key whose expiry has passed is logically gone (process() treats it as absent)
  // and is swept from the table in bulk once such keys are a good share of it: no per-key expiry
  // lists to grow on the event path.
  dedup_table dedup_;
  std::map<int64_t, int64_t> dedup_live_;  // expiry -> keys accepted with it, while not expired
  int64_t* last_dedup_live_ = nullptr;     // &dedup_live_[last_dedup_expires_]
  int64_t last_dedup_expires_ = 0;
  int64_t dedup_expired_ = 0;  // keys in dedup_ whose expiry passed since the last sweep (about)
  std::map<segment_key, std::unique_ptr<segment_state>, segment_key_less> segments_;
  // Open windows (owned by their segment) by end. Windows are cut at aligned boundaries and
  // segment ends, so there are few distinct ends and all windows of one end close together:
  // a bucket is sorted into window_key order once, when it closes, instead of keeping every
  // window in one ordered map.
  std::map<int64_t, std::vector<open_window*>> due_windows_;
  std::set<due_segment, due_segment_less> due_segments_;
  std::set<start_key, start_key_less> segment_starts_;
  absl::flat_hash_map<const subscription_book::tenant*, int64_t> planned_start_;  // per tenant
  std::map<int64_t, std::vector<segment_key>> segment_expiry_;  // final segments by expiry

  // Changes since the last checkpoint.
  // Dedup keys accepted since the last checkpoint, (key, fingerprint) grouped by expiry.
  using dedup_pair = std::pair<hash128, hash128>;
  std::map<int64_t, std::vector<dedup_pair>> new_dedup_;
  std::vector<dedup_pair>* last_new_dedup_ = nullptr;  // &new_dedup_[last_dedup_expires_]
  void note_new_dedup(int64_t expires, hash128 key, hash128 fingerprint);
  int64_t dedup_block_ = 0;  // sequence number of the next packed block of dedup keys
  // Stored blocks of dedup keys by expiry, and blocks expired since the last checkpoint. Each
  // expired block is deleted by key (a changelog can carry key deletes, not range deletes).
  std::map<int64_t, std::vector<int64_t>> dedup_blocks_;
  std::vector<std::pair<int64_t, int64_t>> expired_dedup_blocks_;
  // Each once: segment_state::dirty guards the push. A segment dropped since it was marked
  // leaves a nullptr (segment_state::dirty_slot), as dirty_windows_ below.
  std::vector<segment_state*> dirty_segments_;
  std::vector<segment_key> deleted_segments_;
  std::vector<std::string> deleted_chunks_;  // store keys of expired segments' delta chunks
  // Each once: open_window::dirty guards the push. A window closed since it was marked leaves
  // a nullptr (open_window::dirty_slot), so checkpoint() needs no look-up to skip it.
  std::vector<open_window*> dirty_windows_;
  std::vector<window_key> deleted_windows_;  // store keys encoded at checkpoint

  // The segment each tenant's events fell in last (most events of a tenant hit the same one),
  // by subscription_book::tenant::index: no hash look-up on the event path.
  std::vector<segment_state*> current_segment_;
  quoted_utc_cache instants_;  // the window bounds of charge lines, formatted once each
  absl::flat_hash_map<std::pair<const subscription_book::tenant*, int64_t>, int64_t> seq_;
};

}  // namespace meterflow
