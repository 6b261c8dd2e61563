#include "processor/totals.h"

#include <simdjson.h>

#include "topology/hash.h"
#include "topology/json_writer.h"

namespace meterflow {

namespace od = simdjson::ondemand;

result<void> ledger_totals::apply(std::string_view json) {
  simdjson::padded_string padded(json);
  od::parser parser;
  od::document doc;
  od::object obj;
  if (parser.iterate(padded).get(doc) || doc.get_object().get(obj))
    return fail("record is not a JSON object");
  std::string record, id, tenant, period_start, kind, meter, amount;
  for (auto member : obj) {
    std::string_view key, value;
    if (member.unescaped_key().get(key)) return fail("record is not valid JSON");
    std::string* dest = key == "record"         ? &record
                        : key == "id"           ? &id
                        : key == "tenant"       ? &tenant
                        : key == "period_start" ? &period_start
                        : key == "kind"         ? &kind
                        : key == "meter"        ? &meter
                        : key == "amount"       ? &amount
                                                : nullptr;
    if (!dest) continue;
    if (member.value().get_string().get(value))
      return fail("record member \"", std::string(key), "\" is not a string");
    dest->assign(value);
  }
  if (record != "charge" && record != "adjustment")
    return fail("not a charge or adjustment record: \"", record, "\"");
  if (id.empty() || tenant.empty() || period_start.empty() || kind.empty() || amount.empty())
    return fail("record ", id, " lacks id, tenant, period_start, kind or amount");

  ++records_;
  hash128 h = hasher().field(json).digest();
  auto [it, inserted] = seen_.try_emplace(id, h.lo);
  if (!inserted) {
    ++repeated_;
    if (it->second != h.lo) conflicts_.push_back(id);
    return {};
  }
  decimal_limits limits{26, 12, true};
  auto value = decimal::parse(amount, limits);
  if (!value) return fail("record ", id, ": amount ", value.error().message);
  auto dot = amount.find('.');
  int digits = dot == std::string::npos ? 0 : static_cast<int>(amount.size() - dot - 1);
  total& t = totals_[tenant + "|" + period_start + "|" + kind + "|" + meter];
  t.amount = *t.amount.checked_add(*value);
  t.digits = std::max(t.digits, digits);
  return {};
}

std::map<std::string, ledger_totals::total> ledger_totals::totals() const {
  std::map<std::string, total> out;
  for (const auto& [k, t] : totals_)
    if (!t.amount.is_zero()) out.emplace(k, t);
  return out;
}

std::string ledger_totals::to_json() const {
  std::string out;
  json_writer w(out);
  w.begin_object();
  w.key("totals").begin_object();
  for (const auto& [k, t] : totals()) w.member(k, t.amount.to_fixed(t.digits));
  w.end_object();
  w.member("records", records_);
  w.member("repeated", repeated_);
  w.key("conflicts").begin_array();
  for (const auto& id : conflicts_) w.value(id);
  w.end_array();
  w.end_object();
  return out;
}

}  // namespace meterflow
