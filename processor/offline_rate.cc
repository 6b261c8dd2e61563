#include "processor/offline_rate.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>

#include <simdjson.h>

#include "processor/line_reader.h"
#include "state/rocksdb_store.h"
#include "topology/json_writer.h"

namespace meterflow {

namespace {

// An output file written through a large buffer; errors surface at close.
class output_file {
 public:
  static result<std::unique_ptr<output_file>> open(const std::string& path) {
    auto f = std::make_unique<output_file>();
    f->path_ = path;
    f->out_.open(path, std::ios::binary | std::ios::trunc);
    if (!f->out_) return fail(path, ": cannot open for writing");
    return f;
  }
  void line(std::string_view s) {
    begin_line().append(s);
    end_line();
  }
  // A line written in place: append its text to begin_line()'s buffer, then call end_line().
  std::string& begin_line() { return buffer_; }
  void end_line() {
    buffer_ += '\n';
    if (buffer_.size() > (1 << 20)) flush();
  }
  result<void> close() {
    flush();
    out_.close();
    if (!out_) return fail(path_, ": write failed");
    return {};
  }

 private:
  void flush() {
    out_.write(buffer_.data(), static_cast<std::streamsize>(buffer_.size()));
    buffer_.clear();
  }
  std::string path_;
  std::ofstream out_;
  std::string buffer_;
};

std::string base64(std::string_view in) {
  static constexpr char table[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += table[v >> 18];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string dead_letter_line(std::string_view raw, dead_letter_reason reason,
                             std::string_view error, int64_t line_number) {
  std::string out;
  json_writer w(out);
  w.begin_object();
  w.member("reason", to_string(reason));
  w.member("error", error);
  w.member("line", line_number);
  if (simdjson::validate_utf8(raw.data(), raw.size()))
    w.member("payload", raw);
  else
    w.member("payload_base64", base64(raw));
  w.end_object();
  return out;
}

// The engine's records written straight into the output files' buffers, and counted: charges
// and adjustments to `out`, alerts to `alerts`, dead letters to `dlq` (each file optional but
// `out`; what has no file is counted and dropped).
class file_sink final : public output_sink {
 public:
  file_sink(output_file& out, output_file* dlq, output_file* alerts, rate_summary& summary)
      : out_(out), dlq_(dlq), alerts_(alerts), summary_(summary) {}

  int64_t line_number = 0;  // of the input line being processed, for dead letters

  std::string& begin(output_kind kind, std::string_view) override {
    switch (kind) {
      case output_kind::charge: ++summary_.charges; current_ = &out_; break;
      case output_kind::adjustment: ++summary_.adjustments; current_ = &out_; break;
      case output_kind::alert: ++summary_.alerts; current_ = alerts_; break;
      case output_kind::dead_letter: current_ = nullptr; break;  // they come by dead_letter()
    }
    if (current_) return current_->begin_line();
    discarded_.clear();
    return discarded_;
  }
  void end() override {
    if (current_) current_->end_line();
  }
  void dead_letter(std::string_view raw, std::string_view, dead_letter_reason reason,
                   std::string error) override {
    if (dlq_) dlq_->line(dead_letter_line(raw, reason, error, line_number));
  }

 private:
  output_file& out_;
  output_file* dlq_;
  output_file* alerts_;
  rate_summary& summary_;
  output_file* current_ = nullptr;  // the file of the record begun
  std::string discarded_;           // alerts without an alerts file
};

timestamp wall_clock_now() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return timestamp{std::chrono::duration_cast<std::chrono::milliseconds>(now).count()};
}

result<std::shared_ptr<const catalog>> load_catalog(const std::string& path) {
  auto c = catalog::load_file(path);
  if (!c) return std::unexpected(c.error());
  return std::make_shared<const catalog>(std::move(*c));
}

result<void> load_subscriptions(const std::string& path, engine& e) {
  auto reader = line_reader::open(path);
  if (!reader) return std::unexpected(reader.error());
  int64_t line_number = 0;
  for (;;) {
    auto line = (*reader)->next();
    if (!line) return std::unexpected(line.error());
    if (!*line) return {};
    ++line_number;
    if ((*line)->find_first_not_of(" \t\r") == std::string_view::npos) continue;
    auto record = parse_subscription(**line);
    if (!record) return fail(path, ":", std::to_string(line_number), ": ", record.error().message);
    auto applied = e.apply_subscription(*record);
    if (!applied)
      return fail(path, ":", std::to_string(line_number), ": ", applied.error().message);
    if (*applied)
      std::fprintf(stderr, "meterflow: warning: %s:%lld: %s\n", path.c_str(),
                   static_cast<long long>(line_number), (*applied)->c_str());
  }
}

// The state directory of one offline run: given, or a fresh temporary one removed at the end.
class state_dir_guard {
 public:
  explicit state_dir_guard(std::string given) : path_(std::move(given)) {
    if (!path_.empty()) return;
    std::random_device rd;
    path_ = (std::filesystem::temp_directory_path() /
             ("meterflow-rate-" + std::to_string(rd()) + std::to_string(rd())))
                .string();
    owned_ = true;
  }
  ~state_dir_guard() {
    std::error_code ec;
    if (owned_) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool owned_ = false;
};

// How many lines the events file holds, estimated from its size and the mean length of its
// first `lines`, at most max_expected_events; nullopt when not a regular file. The engine sizes
// its dedup table for them up front (engine::expect_events): growing it key by key costs more
// than a tenth of an in-memory run. Capped so that a long backfill, whose early keys expire
// before its late ones arrive, does not reserve a table for all of it: 8 M keys take 325 MiB.
constexpr uint64_t max_expected_events = 8'000'000;
std::optional<uint64_t> expected_lines(const line_reader& reader,
                                       const std::vector<std::string_view>& lines) {
  auto size = reader.regular_file_size();
  if (!size || lines.empty()) return std::nullopt;
  uint64_t bytes = 0;
  for (std::string_view l : lines) bytes += l.size() + 1;  // + its '\n'
  return std::min(max_expected_events, *size * lines.size() / bytes);
}

}  // namespace

result<rate_summary> run_rate(const rate_options& o) {
  if (auto v = o.engine.validate(); !v) return std::unexpected(v.error());
  auto cat = load_catalog(o.catalog_path);
  if (!cat) return std::unexpected(cat.error());

  const bool persist = o.state == state_backend::rocksdb;
  state_dir_guard dir(persist ? o.state_dir : "unused");
  std::unique_ptr<state::rocksdb_store> store;
  if (persist) {
    state::rocksdb_options ro;
    ro.path = dir.path();
    ro.disable_wal = true;  // the input file is the source of truth for an offline run
    auto opened = state::rocksdb_store::open(ro);
    if (!opened) return std::unexpected(opened.error());
    store = std::move(*opened);
  }

  engine_options eo = o.engine;
  eo.persist = persist;
  engine e(eo, *cat);
  if (auto s = load_subscriptions(o.subscriptions_path, e); !s) return std::unexpected(s.error());
  if (store)
    if (auto r = e.restore(*store); !r) return std::unexpected(r.error());

  auto events = line_reader::open(o.events_path);
  if (!events) return std::unexpected(events.error());
  auto out = output_file::open(o.out_path);
  if (!out) return std::unexpected(out.error());
  std::unique_ptr<output_file> dlq, alerts;
  if (!o.dlq_path.empty()) {
    auto f = output_file::open(o.dlq_path);
    if (!f) return std::unexpected(f.error());
    dlq = std::move(*f);
  }
  if (!o.alerts_path.empty()) {
    auto f = output_file::open(o.alerts_path);
    if (!f) return std::unexpected(f.error());
    alerts = std::move(*f);
  }

  rate_summary summary;
  file_sink sink(**out, dlq.get(), alerts.get(), summary);
  auto commit = [&]() -> result<void> {
    if (!store) return {};
    state::write_batch batch;
    e.checkpoint(batch);
    return store->write(batch);
  };

  const timestamp wall = wall_clock_now();
  const auto started = std::chrono::steady_clock::now();
  int64_t since_commit = 0;
  // Lines go to the engine in batches (it decodes a few ahead to overlap their cache misses),
  // each batch ending at a commit point; blank lines are counted and skipped.
  std::vector<std::string_view> lines, batch;
  std::vector<int64_t> line_numbers;
  const auto set_line = [&](size_t i) { sink.line_number = line_numbers[i]; };
  const auto flush = [&]() -> result<void> {
    if (batch.empty()) return {};
    e.process_batch(batch, wall, sink, set_line);
    since_commit += static_cast<int64_t>(batch.size());
    batch.clear();
    line_numbers.clear();
    if (since_commit < o.commit_every) return {};
    since_commit = 0;
    return commit();
  };
  bool first_batch = true;
  for (;;) {
    if (auto r = (*events)->next_batch(lines, 256); !r) return std::unexpected(r.error());
    if (lines.empty()) break;
    if (first_batch) {
      first_batch = false;
      if (auto n = expected_lines(**events, lines)) e.expect_events(*n);
    }
    for (std::string_view line : lines) {
      ++summary.input_lines;
      if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;  // blank
      batch.push_back(line);
      line_numbers.push_back(summary.input_lines);
      if (since_commit + static_cast<int64_t>(batch.size()) >= o.commit_every)
        if (auto c = flush(); !c) return std::unexpected(c.error());
    }
    if (auto c = flush(); !c) return std::unexpected(c.error());
  }
  e.finish(sink);
  if (auto c = commit(); !c) return std::unexpected(c.error());
  summary.elapsed_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                           std::chrono::steady_clock::now() - started)
                           .count();
  summary.counters = e.counters();

  if (auto c = (*out)->close(); !c) return std::unexpected(c.error());
  if (dlq)
    if (auto c = dlq->close(); !c) return std::unexpected(c.error());
  if (alerts)
    if (auto c = alerts->close(); !c) return std::unexpected(c.error());
  if (!o.summary_path.empty()) {
    auto f = output_file::open(o.summary_path);
    if (!f) return std::unexpected(f.error());
    (*f)->line(summary_json(summary));
    if (auto c = (*f)->close(); !c) return std::unexpected(c.error());
  }
  return summary;
}

std::string summary_json(const rate_summary& s) {
  std::string out;
  json_writer w(out);
  w.begin_object();
  w.member("accepted", s.counters.accepted);
  w.member("duplicates", s.counters.duplicates);
  w.key("dlq").begin_object();
  for (int i = 0; i < dead_letter_reason_count; ++i)
    if (s.counters.dead_letters[i] > 0)
      w.member(to_string(static_cast<dead_letter_reason>(i)), s.counters.dead_letters[i]);
  w.end_object();
  w.member("charges", s.charges);
  w.member("adjustments", s.adjustments);
  w.member("alerts", s.alerts);
  w.end_object();
  return out;
}

}  // namespace meterflow
