#include "bench/workload.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <string>
#include <vector>

namespace meterflow::workload {

namespace {

// splitmix64: a tiny, fast, seedable generator; mix() is a bijection on 64 bits.
uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

struct rng {
  uint64_t state;
  uint64_t next() { return mix(state += 0x9e3779b97f4a7c15ULL); }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : next() % n; }  // bias irrelevant here
};

// Days since 1970-01-01 for a proleptic Gregorian date, and back (H. Hinnant's algorithms).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

constexpr int64_t ms_per_hour = 3'600'000;
constexpr int64_t ms_per_day = 86'400'000;
int64_t utc_ms(int64_t y, unsigned m, unsigned d, int64_t hour = 0) {
  return days_from_civil(y, m, d) * ms_per_day + hour * ms_per_hour;
}

// Output buffer: append-only text, written to the file in large chunks. The first error is kept
// and returned by close(), so the generating loops need not check every line.
class writer {
 public:
  explicit writer(const std::filesystem::path& path) : path_(path.string()) {
    f_ = std::fopen(path_.c_str(), "wb");
    if (!f_) error_ = path_ + ": cannot open for writing: " + std::strerror(errno);
    buf_.reserve(chunk + 4096);
  }
  ~writer() {
    if (f_) std::fclose(f_);
  }
  writer(const writer&) = delete;
  writer& operator=(const writer&) = delete;

  std::string& buf() { return buf_; }
  void maybe_flush() {
    if (buf_.size() >= chunk) flush();
  }
  result<void> close() {
    flush();
    if (f_ && std::fclose(f_) != 0 && error_.empty()) error_ = path_ + ": write failed";
    f_ = nullptr;
    if (!error_.empty()) return fail(error_);
    return {};
  }

 private:
  static constexpr size_t chunk = 4 << 20;
  void flush() {
    if (f_ && error_.empty() && !buf_.empty() &&
        std::fwrite(buf_.data(), 1, buf_.size(), f_) != buf_.size())
      error_ = path_ + ": write failed: " + std::strerror(errno);
    buf_.clear();
  }
  std::string path_;
  std::FILE* f_ = nullptr;
  std::string buf_;
  std::string error_;
};

void put_uint(std::string& s, uint64_t v) {
  char tmp[24];
  auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
  s.append(tmp, r.ptr);
}

void put_padded(std::string& s, uint64_t v, int width) {
  char tmp[24];
  auto r = std::to_chars(tmp, tmp + sizeof tmp, v);
  for (int n = static_cast<int>(r.ptr - tmp); n < width; ++n) s += '0';
  s.append(tmp, r.ptr);
}

// A decimal with `frac` fractional digits from an integer count of 10^-frac units.
void put_decimal(std::string& s, uint64_t units, int frac) {
  uint64_t scale = 1;
  for (int i = 0; i < frac; ++i) scale *= 10;
  put_uint(s, units / scale);
  if (frac > 0) {
    s += '.';
    put_padded(s, units % scale, frac);
  }
}

void put_hex16(std::string& s, uint64_t v) {
  static constexpr char digits[] = "0123456789abcdef";
  for (int shift = 60; shift >= 0; shift -= 4) s += digits[(v >> shift) & 15];
}

enum class zone : uint8_t { utc, berlin, new_york };
constexpr std::string_view zone_names[] = {"UTC", "Europe/Berlin", "America/New_York"};

// The UTC offset (minutes) of a zone at a UTC instant, for 2026 only (the workload's year).
int offset_minutes(zone z, int64_t t) {
  static const int64_t eu_dst_start = utc_ms(2026, 3, 29, 1), eu_dst_end = utc_ms(2026, 10, 25, 1);
  static const int64_t us_dst_start = utc_ms(2026, 3, 8, 7), us_dst_end = utc_ms(2026, 11, 1, 6);
  switch (z) {
    case zone::utc: return 0;
    case zone::berlin: return t >= eu_dst_start && t < eu_dst_end ? 120 : 60;
    case zone::new_york: return t >= us_dst_start && t < us_dst_end ? -240 : -300;
  }
  return 0;
}

// RFC 3339 with milliseconds: "Z" when offset_min == 0, else the local time and "±hh:mm".
void put_time(std::string& s, int64_t utc, int offset_min) {
  const int64_t local = utc + int64_t{offset_min} * 60'000;
  int64_t days = local / ms_per_day, rem = local % ms_per_day;
  if (rem < 0) rem += ms_per_day, --days;
  int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  put_padded(s, static_cast<uint64_t>(y), 4);
  s += '-';
  put_padded(s, m, 2);
  s += '-';
  put_padded(s, d, 2);
  s += 'T';
  put_padded(s, static_cast<uint64_t>(rem / ms_per_hour), 2);
  s += ':';
  put_padded(s, static_cast<uint64_t>(rem / 60'000 % 60), 2);
  s += ':';
  put_padded(s, static_cast<uint64_t>(rem / 1000 % 60), 2);
  s += '.';
  put_padded(s, static_cast<uint64_t>(rem % 1000), 3);
  if (offset_min == 0) {
    s += 'Z';
  } else {
    const int a = offset_min < 0 ? -offset_min : offset_min;
    s += offset_min < 0 ? '-' : '+';
    put_padded(s, static_cast<uint64_t>(a / 60), 2);
    s += ':';
    put_padded(s, static_cast<uint64_t>(a % 60), 2);
  }
}

constexpr std::string_view catalog_json = R"({
  "rounding": {"scale": 2, "mode": "half_even"},
  "meters": [
    {"key": "api_calls", "event_type": "api_request", "aggregation": "count"},
    {"key": "egress_gb", "event_type": "transfer", "aggregation": "sum", "value": "/data/gb",
     "filter": {"/data/direction": "out"}},
    {"key": "active_users", "event_type": "login", "aggregation": "unique_count", "value": "/data/user"},
    {"key": "peak_storage_gb", "event_type": "storage_sample", "aggregation": "max",
     "window_aggregation": "max", "group_by": {"volume": "/data/volume"}, "value": "/data/gb"},
    {"key": "seats", "event_type": "seat_count", "aggregation": "latest", "value": "/data/seats"}
  ],
  "plans": [
    {"key": "starter", "currency": "USD", "versions": [
      {"effective_from": "2026-01-01T00:00:00Z", "charges": [
        {"type": "recurring", "amount": "19.00"},
        {"type": "usage", "meter": "api_calls", "model": "graduated", "alerts": [80, 100], "tiers": [
          {"up_to": "1000", "unit_price": "0"},
          {"up_to": "10000", "unit_price": "0.002"},
          {"up_to": null, "unit_price": "0.0015"}]},
        {"type": "usage", "meter": "egress_gb", "model": "per_unit", "unit_price": "0.09"},
        {"type": "usage", "meter": "active_users", "model": "package",
         "package_size": "10", "package_price": "5.00"},
        {"type": "minimum", "amount": "25.00"}
      ]}
    ]},
    {"key": "pro", "currency": "EUR", "versions": [
      {"effective_from": "2026-01-01T00:00:00Z", "charges": [
        {"type": "recurring", "amount": "99.00"},
        {"type": "usage", "meter": "api_calls", "model": "volume", "tiers": [
          {"up_to": "5000", "unit_price": "0.0012"},
          {"up_to": "50000", "unit_price": "0.0009", "flat_price": "10.00"},
          {"up_to": null, "unit_price": "0.0006", "flat_price": "25.00"}]},
        {"type": "usage", "meter": "egress_gb", "model": "graduated", "alerts": [80, 100], "tiers": [
          {"up_to": "100", "unit_price": "0"},
          {"up_to": "1000", "unit_price": "0.05"},
          {"up_to": null, "unit_price": "0.03"}]},
        {"type": "usage", "meter": "peak_storage_gb", "model": "per_unit", "unit_price": "0.021"},
        {"type": "usage", "meter": "seats", "model": "per_unit", "unit_price": "12.00"},
        {"type": "minimum", "amount": "150.00"}
      ]}
    ]},
    {"key": "enterprise", "currency": "USD", "versions": [
      {"effective_from": "2026-01-01T00:00:00Z", "charges": [
        {"type": "recurring", "amount": "999.00"},
        {"type": "usage", "meter": "api_calls", "model": "package",
         "package_size": "10000", "package_price": "4.50"},
        {"type": "usage", "meter": "egress_gb", "model": "volume", "tiers": [
          {"up_to": "500", "unit_price": "0.04"},
          {"up_to": null, "unit_price": "0.025"}]},
        {"type": "usage", "meter": "peak_storage_gb", "model": "graduated", "tiers": [
          {"up_to": "1000", "unit_price": "0", "flat_price": "50.00"},
          {"up_to": null, "unit_price": "0.015"}]},
        {"type": "usage", "meter": "seats", "model": "graduated", "tiers": [
          {"up_to": "50", "unit_price": "15.00"},
          {"up_to": null, "unit_price": "10.00"}]},
        {"type": "minimum", "amount": "2000.00"}
      ]},
      {"effective_from": "2026-06-01T00:00:00Z", "charges": [
        {"type": "recurring", "amount": "1099.00"},
        {"type": "usage", "meter": "api_calls", "model": "package",
         "package_size": "10000", "package_price": "4.00"},
        {"type": "usage", "meter": "egress_gb", "model": "volume", "tiers": [
          {"up_to": "500", "unit_price": "0.035"},
          {"up_to": null, "unit_price": "0.02"}]},
        {"type": "usage", "meter": "peak_storage_gb", "model": "graduated", "tiers": [
          {"up_to": "1000", "unit_price": "0", "flat_price": "50.00"},
          {"up_to": null, "unit_price": "0.012"}]},
        {"type": "usage", "meter": "seats", "model": "graduated", "tiers": [
          {"up_to": "50", "unit_price": "15.00"},
          {"up_to": null, "unit_price": "9.50"}]},
        {"type": "minimum", "amount": "2000.00"},
        {"type": "usage", "meter": "active_users", "model": "per_unit", "unit_price": "0.10"}
      ]}
    ]}
  ]
}
)";

struct tenant_info {
  std::string name;
  zone tz;
  uint32_t users;     // size of the tenant's user population
  uint32_t volumes;   // storage volumes
  uint32_t base_gb;   // typical volume size
  uint32_t seats;     // typical seat count
};

constexpr std::string_view regions[] = {"eu", "us", "ap"};
constexpr std::string_view routes[] = {"/v1/chat", "/v1/embeddings", "/v1/files", "/v1/search",
                                       "/v2/orders", "/v2/invoices", "/health", "/v1/users"};
constexpr std::string_view methods[] = {"GET", "POST", "PUT", "DELETE"};

// One subscription line per tenant; returns the tenants' traits for the events.
std::vector<tenant_info> write_subscriptions(int64_t tenants, rng& r, writer& w) {
  constexpr std::string_view plans[] = {"starter", "pro", "enterprise"};
  std::vector<tenant_info> ts(static_cast<size_t>(tenants));
  for (int64_t i = 0; i < tenants; ++i) {
    tenant_info& t = ts[static_cast<size_t>(i)];
    t.name = "tenant-";
    put_padded(t.name, static_cast<uint64_t>(i + 1), 5);
    t.tz = static_cast<zone>(i % 3);
    t.users = 20 + static_cast<uint32_t>(r.below(480));
    t.volumes = 1 + static_cast<uint32_t>(r.below(6));
    t.base_gb = 50 + static_cast<uint32_t>(r.below(2000));
    t.seats = 3 + static_cast<uint32_t>(r.below(120));
    // 60 % starter, 30 % pro, 10 % enterprise; anchor day 1 or 15.
    const int64_t p = i % 10 < 6 ? 0 : i % 10 < 9 ? 1 : 2;
    const int anchor = (i / 3) % 2 == 0 ? 1 : 15;
    std::string& s = w.buf();
    s += R"({"tenant":")";
    s += t.name;
    s += R"(","plan":")";
    s += plans[p];
    s += R"(","start":"2026-01-01T00:00:00Z","timezone":")";
    s += zone_names[static_cast<int>(t.tz)];
    s += R"(","anchor_day":)";
    put_uint(s, static_cast<uint64_t>(anchor));
    s += "}\n";
    w.maybe_flush();
  }
  return ts;
}

// The data member of a fresh event of type `kind` (see write_events for the shares).
void append_data(std::string& line, int kind, uint64_t region, const tenant_info& ten, rng& r) {
  switch (kind) {
    case 0:
      line += R"("route":")";
      line += routes[r.below(std::size(routes))];
      line += R"(","method":")";
      line += methods[r.below(std::size(methods))];
      line += R"(","status":)";
      put_uint(line, r.below(50) == 0 ? 500 : r.below(10) == 0 ? 404 : 200);
      line += R"(,"bytes":")";
      put_uint(line, 200 + r.below(64'000));
      line += R"(","user":"u-)";
      put_uint(line, r.below(ten.users));
      line += '"';
      break;
    case 1:
      line += R"("gb":")";
      put_decimal(line, r.below(50'000'000), 6);  // up to 50 GB, micro-GB precision
      line += R"(","direction":")";
      line += r.below(10) < 7 ? "out" : "in";
      line += R"(","bucket":"b-)";
      put_uint(line, r.below(8));
      line += R"(","region":")";
      line += regions[region];
      line += '"';
      break;
    case 2:
      line += R"("user":"u-)";
      put_uint(line, r.below(ten.users));
      line += R"(","method":")";
      line += r.below(3) == 0 ? "password" : "sso";
      line += R"(","client":"web"})";
      line.pop_back();
      break;
    case 3:
      line += R"("volume":"vol-)";
      put_uint(line, r.below(ten.volumes));
      line += R"(","gb":")";
      put_decimal(line, uint64_t{ten.base_gb} * 100 + r.below(uint64_t{ten.base_gb} * 20), 2);
      line += R"(","tier":"ssd","region":")";
      line += regions[region];
      line += '"';
      break;
    case 4:
      line += R"("seats":")";
      put_uint(line, ten.seats + r.below(5));
      line += R"(","edition":"team"})";
      line.pop_back();
      break;
  }
}

// The event lines: 2026-03-01T00:00Z plus `span`, evenly spread over the lines.
workload_counts write_events(const workload_options& o, const std::vector<tenant_info>& ts,
                             rng& r, writer& w) {
  const int64_t events = o.events;
  const int64_t begin = utc_ms(2026, 3, 1);
  const int64_t span = o.hours > 0 ? o.hours * 3'600'000 : utc_ms(2026, 9, 1) - begin;
  const uint64_t id_key = mix(o.seed + 0x1d);
  constexpr size_t ring_size = 4096;
  std::vector<std::string> ring(ring_size);
  std::vector<int64_t> ring_time(ring_size);  // stream time when each line was written
  size_t ring_count = 0;
  workload_counts counts;
  counts.events = events;
  std::string line;
  line.reserve(512);
  for (int64_t i = 0; i < events; ++i) {
    const uint64_t roll = r.below(10'000);
    const int64_t now = begin + static_cast<int64_t>(static_cast<__int128>(i) * span / events);
    if (roll < static_cast<uint64_t>(o.dup_bp) && ring_count > 0) {
      // An exact re-send of a recent line (the producer retried after a lost ack).
      // Only lines at most one hour (of stream time) old, so that the re-send is a duplicate
      // and not a too_late dead letter on a sparse workload.
      size_t recent = 1;
      while (recent < std::min(ring_count, ring_size) &&
             ring_time[(ring_count - 1 - recent) % ring_size] >= now - ms_per_hour)
        ++recent;
      const size_t back = static_cast<size_t>(r.below(recent));
      w.buf() += ring[(ring_count - 1 - back) % ring_size];
      w.buf() += '\n';
      w.maybe_flush();
      ++counts.duplicates;
      continue;
    }
    int64_t t = now;
    if (roll < static_cast<uint64_t>(o.dup_bp + o.late_bp)) {
      t = now - ms_per_hour - static_cast<int64_t>(r.below(2 * ms_per_hour + 1));
      ++counts.late;
    }
    // Half the traffic uniform over tenants, half skewed towards low tenant numbers.
    const uint64_t n = static_cast<uint64_t>(o.tenants);
    const uint64_t ti = r.below(2) == 0 ? r.below(n) : r.below(n) * r.below(n) / n;
    const tenant_info& ten = ts[ti];
    const uint64_t region = r.below(3);

    line.clear();
    line += R"({"specversion":"1.0","id":"evt-)";
    put_hex16(line, mix(static_cast<uint64_t>(i) ^ id_key));
    line += R"(","source":"gw/)";
    line += regions[region];
    line += '-';
    put_uint(line, 1 + r.below(4));
    line += R"(","type":")";
    // 50 % api_request, 20 % transfer, 12 % login, 13 % storage_sample, 5 % seat_count.
    const uint64_t kind_roll = r.below(100);
    const int kind = kind_roll < 50 ? 0 : kind_roll < 70 ? 1 : kind_roll < 82 ? 2 : kind_roll < 95 ? 3 : 4;
    ++counts.by_type[static_cast<size_t>(kind)];
    static constexpr std::string_view types[] = {"api_request", "transfer", "login",
                                                 "storage_sample", "seat_count"};
    line += types[kind];
    line += R"(","subject":")";
    line += ten.name;
    line += R"(","time":")";
    // A quarter of the events of non-UTC tenants carry their local offset.
    put_time(line, t, r.below(4) == 0 ? offset_minutes(ten.tz, t) : 0);
    line += R"(","data":{)";
    append_data(line, kind, region, ten, r);
    line += "}}";
    w.buf() += line;
    w.buf() += '\n';
    w.maybe_flush();
    ring[ring_count % ring_size] = line;
    ring_time[ring_count % ring_size] = now;
    ++ring_count;
  }
  return counts;
}

}  // namespace

result<void> workload_options::validate() const {
  if (events < 1) return fail("events must be at least 1");
  if (tenants < 1 || tenants > 99'999'999) return fail("tenants must be from 1 to 99999999");
  if (dup_bp < 0 || late_bp < 0 || dup_bp + late_bp > 10'000)
    return fail("duplicates plus late events must be from 0 to 100 %");
  if (hours < 0) return fail("hours must not be negative");
  return {};
}

result<workload_counts> write(const workload_options& options, const std::filesystem::path& dir) {
  if (auto v = options.validate(); !v) return std::unexpected(v.error());
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(dir.string(), ": ", ec.message());

  writer catalog(dir / "catalog.json");
  catalog.buf() += catalog_json;
  if (auto c = catalog.close(); !c) return std::unexpected(c.error());

  rng r{mix(options.seed ^ 0x6d65746572666c6fULL)};
  writer subscriptions(dir / "subscriptions.jsonl");
  const std::vector<tenant_info> tenants = write_subscriptions(options.tenants, r, subscriptions);
  if (auto c = subscriptions.close(); !c) return std::unexpected(c.error());

  writer events(dir / "events.jsonl");
  const workload_counts counts = write_events(options, tenants, r, events);
  if (auto c = events.close(); !c) return std::unexpected(c.error());
  return counts;
}

result<int64_t> parse_percent_bp(std::string_view text) {
  int64_t whole = 0, frac = 0;
  size_t i = 0;
  int int_digits = 0, frac_digits = 0;
  for (; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++int_digits)
    if (int_digits < 4) whole = whole * 10 + (text[i] - '0');
  if (i < text.size() && text[i] == '.') {
    for (++i; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, ++frac_digits)
      if (frac_digits < 2) frac = frac * 10 + (text[i] - '0');
    if (frac_digits == 1) frac *= 10;
  }
  if (i != text.size() || int_digits + frac_digits == 0 || int_digits > 3 || frac_digits > 2)
    return fail("expected a percentage with at most two decimals, got \"", std::string(text), "\"");
  const int64_t bp = whole * 100 + frac;
  if (bp > 10'000) return fail("must be at most 100");
  return bp;
}

}  // namespace meterflow::workload
