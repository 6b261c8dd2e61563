// Catalog loading (SPEC §2). The parser walks the document once with simdjson On-Demand and
// dispatches on each member name, so an unknown member is seen (and rejected) exactly where it
// is: a typo in billing configuration must fail the load, not silently change a bill. Values are
// collected first and validated per object afterwards, because JSON member order is free (a
// charge's "type" may come after the members that depend on it).
#include "topology/catalog.h"

#include "topology/json_number.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include <simdjson.h>

namespace meterflow {

namespace {

namespace od = simdjson::ondemand;

// Early returns for result<T>: keeps the validation code a list of checks.
#define CATALOG_TRY(expr)                                                           \
  do {                                                                              \
    auto catalog_try_r_ = (expr);                                                   \
    if (!catalog_try_r_) return std::unexpected(std::move(catalog_try_r_.error())); \
  } while (0)
#define CATALOG_TRY_ASSIGN(lhs, expr)                                               \
  do {                                                                              \
    auto catalog_try_r_ = (expr);                                                   \
    if (!catalog_try_r_) return std::unexpected(std::move(catalog_try_r_.error())); \
    lhs = std::move(*catalog_try_r_);                                               \
  } while (0)

// ---- JSON paths and messages ---------------------------------------------------------------

std::string member_path(const std::string& parent, std::string_view name) {
  std::string p = parent;
  if (!p.empty()) p += '.';
  p += name;
  return p;
}

std::string index_path(const std::string& parent, size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

// Entries of map-like objects (filter, group_by) whose names are data, e.g. JSON Pointers.
std::string entry_path(const std::string& parent, std::string_view name) {
  return parent + "[\"" + std::string(name) + "\"]";
}

std::string in_quotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

template <class... Parts>
std::unexpected<error> bad(const std::string& path, Parts&&... parts) {
  return fail(path.empty() ? std::string("catalog") : path, ": ", std::forward<Parts>(parts)...);
}

std::unexpected<error> json_error(const std::string& path, simdjson::error_code e) {
  return bad(path, "invalid JSON (", simdjson::error_message(e), ")");
}

// ---- typed getters ---------------------------------------------------------------------------

result<od::object> get_object(od::value& v, const std::string& path) {
  od::object obj;
  auto e = v.get_object().get(obj);
  if (e == simdjson::INCORRECT_TYPE) return bad(path, "must be an object");
  if (e) return json_error(path, e);
  return obj;
}

result<od::array> get_array(od::value& v, const std::string& path) {
  od::array arr;
  auto e = v.get_array().get(arr);
  if (e == simdjson::INCORRECT_TYPE) return bad(path, "must be an array");
  if (e) return json_error(path, e);
  return arr;
}

result<std::string> get_string(od::value& v, const std::string& path) {
  std::string_view s;
  auto e = v.get_string().get(s);
  if (e == simdjson::INCORRECT_TYPE) return bad(path, "must be a string");
  if (e) return json_error(path, e);
  return std::string(s);
}

result<std::string> get_nonempty_string(od::value& v, const std::string& path) {
  std::string s;
  CATALOG_TRY_ASSIGN(s, get_string(v, path));
  if (s.empty()) return bad(path, "must not be empty");
  return s;
}

// A catalog decimal: a string ("0.05") or a JSON number, parsed from its exact text. The number's
// text is taken verbatim (raw_json_token) so that binary floating point never sees it.
result<decimal> get_decimal(od::value& v, const std::string& path) {
  od::json_type type;
  if (auto e = v.type().get(type)) return json_error(path, e);
  std::string_view text;
  if (type == od::json_type::string) {
    if (auto e = v.get_string().get(text)) return json_error(path, e);
  } else if (type == od::json_type::number) {
    text = v.raw_json_token();
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\n' ||
                             text.back() == '\r')) {
      text.remove_suffix(1);
    }
    // The parser does not check a token it is not asked to convert: do it here ("007" and "1."
    // are not JSON numbers, even if the decimal text parser would take the first).
    if (!is_json_number(text)) return bad(path, in_quotes(text), " is not a valid JSON number");
  } else {
    return bad(path, "must be a decimal (a string such as \"0.05\" or a JSON number)");
  }
  auto d = decimal::parse(text, catalog_limits);
  if (!d) return bad(path, "invalid decimal ", in_quotes(text), ": ", d.error().message);
  return *d;
}

// A decimal or null (nullopt).
result<std::optional<decimal>> get_optional_decimal(od::value& v, const std::string& path) {
  bool null = false;
  if (auto e = v.is_null().get(null)) return json_error(path, e);
  if (null) return std::optional<decimal>();
  decimal d;
  CATALOG_TRY_ASSIGN(d, get_decimal(v, path));
  return std::optional<decimal>(d);
}

// RFC 6901: "" (the whole document) or "/"-separated tokens where '~' escapes as ~0 or ~1.
result<void> check_pointer(std::string_view p, const std::string& path) {
  if (!p.empty() && p.front() != '/') {
    return bad(path, "must be a JSON Pointer (RFC 6901, \"\" or starting with '/'), got ",
               in_quotes(p));
  }
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == '~' && (i + 1 == p.size() || (p[i + 1] != '0' && p[i + 1] != '1'))) {
      return bad(path, "invalid JSON Pointer ", in_quotes(p), ": '~' must be followed by 0 or 1");
    }
  }
  return {};
}

// ---- objects -------------------------------------------------------------------------------

enum class object_kind {
  root,    // the document: also ignores "$schema"
  schema,  // a catalog object: ignores "description"
  map,     // filter / group_by: member names are data, none is ignored
};

// Calls on_member(name, value, path) for each member; it returns false for a member it does not
// know, which fails the load. Duplicate members fail too (which one would win is parser-defined).
template <class F>
result<void> walk_object(od::object obj, const std::string& path, object_kind kind, F&& on_member) {
  std::vector<std::string> seen;
  for (auto field_result : obj) {
    od::field field;
    if (auto e = std::move(field_result).get(field)) return json_error(path, e);
    std::string_view name_view;
    if (auto e = field.unescaped_key().get(name_view)) return json_error(path, e);
    std::string name(name_view);
    std::string p = kind == object_kind::map ? entry_path(path, name) : member_path(path, name);
    if (std::ranges::find(seen, name) != seen.end()) return bad(p, "duplicate member");
    seen.push_back(name);
    // Ignored, but read: a skipped value would not be validated by the On-Demand parser.
    if ((kind != object_kind::map && name == "description") ||
        (kind == object_kind::root && name == "$schema")) {
      CATALOG_TRY(get_string(field.value(), p));
      continue;
    }
    auto known = on_member(std::string_view(name), field.value(), p);
    if (!known) return std::unexpected(std::move(known.error()));
    if (!*known) return bad(p, "unknown member");
  }
  return {};
}

// Calls on_element(value, path) for each element.
template <class F>
result<void> walk_array(od::array arr, const std::string& path, F&& on_element) {
  size_t i = 0;
  for (auto element_result : arr) {
    od::value element;
    if (auto e = std::move(element_result).get(element)) return json_error(index_path(path, i), e);
    CATALOG_TRY(on_element(element, index_path(path, i)));
    ++i;
  }
  return {};
}

// ---- enumerations ----------------------------------------------------------------------------

std::optional<aggregation> aggregation_from(std::string_view s) {
  for (auto a : {aggregation::count, aggregation::sum, aggregation::max, aggregation::min,
                 aggregation::latest, aggregation::unique_count}) {
    if (to_string(a) == s) return a;
  }
  return std::nullopt;
}

std::optional<charge_type> charge_type_from(std::string_view s) {
  for (auto t : {charge_type::recurring, charge_type::usage, charge_type::minimum}) {
    if (to_string(t) == s) return t;
  }
  return std::nullopt;
}

std::optional<pricing_model> pricing_model_from(std::string_view s) {
  for (auto m : {pricing_model::per_unit, pricing_model::graduated, pricing_model::volume,
                 pricing_model::package}) {
    if (to_string(m) == s) return m;
  }
  return std::nullopt;
}

// ---- the parser ------------------------------------------------------------------------------

// A charge's members as found, before they are checked against its type and model.
struct charge_members {
  std::optional<charge_type> type;
  std::optional<pricing_model> model;
  std::optional<std::string> meter;
  std::optional<decimal> amount, unit_price, package_size, package_price;
  std::optional<std::vector<tier>> tiers;
  std::optional<std::vector<decimal>> alerts;
  std::vector<std::string> names;  // in document order
};

class catalog_parser {
 public:
  result<catalog> run(std::string_view json);

 private:
  result<void> parse_rounding(od::value& v, const std::string& path);
  result<void> parse_meters(od::value& v, const std::string& path);
  result<meter> parse_meter(od::value& v, const std::string& path);
  result<void> parse_plans(od::value& v, const std::string& path);
  result<plan> parse_plan(od::value& v, const std::string& path);
  result<plan_version> parse_version(od::value& v, const std::string& path);
  result<charge> parse_charge(od::value& v, const std::string& path);
  result<std::vector<tier>> parse_tiers(od::value& v, const std::string& path);
  result<tier> parse_tier(od::value& v, const std::string& path);
  result<std::vector<decimal>> parse_alerts(od::value& v, const std::string& path);
  result<void> resolve_meters();

  catalog c_;
};

result<catalog> catalog_parser::run(std::string_view json) {
  simdjson::padded_string padded(json);
  od::parser parser;
  od::document doc;
  if (auto e = parser.iterate(padded).get(doc)) return json_error("", e);
  od::object root;
  auto e = doc.get_object().get(root);
  if (e == simdjson::INCORRECT_TYPE) return bad("", "the document must be a JSON object");
  if (e) return json_error("", e);

  bool has_meters = false, has_plans = false;
  CATALOG_TRY(
      walk_object(root, "", object_kind::root,
                  [&](std::string_view name, od::value& v, const std::string& p) -> result<bool> {
                    if (name == "rounding") {
                      CATALOG_TRY(parse_rounding(v, p));
                    } else if (name == "meters") {
                      CATALOG_TRY(parse_meters(v, p));
                      has_meters = true;
                    } else if (name == "plans") {
                      CATALOG_TRY(parse_plans(v, p));
                      has_plans = true;
                    } else {
                      return false;
                    }
                    return true;
                  }));
  // Anything after the root object ("{...} {...}", a stray bracket) is not a catalog.
  const char* trailing = nullptr;
  if (doc.current_location().get(trailing) == simdjson::SUCCESS) {
    return bad("", "unexpected content after the catalog object");
  }
  if (!has_meters) return bad("", "missing \"meters\"");
  if (!has_plans) return bad("", "missing \"plans\"");
  CATALOG_TRY(resolve_meters());
  return std::move(c_);
}

result<void> catalog_parser::parse_rounding(od::value& v, const std::string& path) {
  od::object obj;
  CATALOG_TRY_ASSIGN(obj, get_object(v, path));
  return walk_object(
      obj, path, object_kind::schema,
      [&](std::string_view name, od::value& m, const std::string& p) -> result<bool> {
        if (name == "scale") {
          int64_t scale = -1;
          if (m.get_int64().get(scale) != simdjson::SUCCESS || scale < 0 ||
              scale > decimal::scale) {
            return bad(p, "must be an integer from 0 to 12");
          }
          c_.rounding_scale = static_cast<int>(scale);
        } else if (name == "mode") {
          std::string mode;
          CATALOG_TRY_ASSIGN(mode, get_string(m, p));
          if (mode == "half_even") {
            c_.rounding = rounding_mode::half_even;
          } else if (mode == "half_up") {
            c_.rounding = rounding_mode::half_up;
          } else {
            return bad(p, "unknown rounding mode ", in_quotes(mode),
                       " (expected half_even or half_up)");
          }
        } else {
          return false;
        }
        return true;
      });
}

result<void> catalog_parser::parse_meters(od::value& v, const std::string& path) {
  od::array arr;
  CATALOG_TRY_ASSIGN(arr, get_array(v, path));
  CATALOG_TRY(walk_array(arr, path, [&](od::value& e, const std::string& p) -> result<void> {
    meter m;
    CATALOG_TRY_ASSIGN(m, parse_meter(e, p));
    for (const auto& other : c_.meters) {
      if (other.key == m.key)
        return bad(member_path(p, "key"), "duplicate meter key ", in_quotes(m.key));
    }
    c_.meters.push_back(std::move(m));
    return {};
  }));
  return {};
}

result<meter> catalog_parser::parse_meter(od::value& v, const std::string& path) {
  od::object obj;
  CATALOG_TRY_ASSIGN(obj, get_object(v, path));
  meter m;
  bool has_key = false, has_event_type = false, has_aggregation = false;
  std::optional<std::string> value;
  CATALOG_TRY(walk_object(
      obj, path, object_kind::schema,
      [&](std::string_view name, od::value& f, const std::string& p) -> result<bool> {
        if (name == "key") {
          CATALOG_TRY_ASSIGN(m.key, get_nonempty_string(f, p));
          has_key = true;
        } else if (name == "event_type") {
          CATALOG_TRY_ASSIGN(m.event_type, get_nonempty_string(f, p));
          has_event_type = true;
        } else if (name == "aggregation" || name == "window_aggregation") {
          std::string s;
          CATALOG_TRY_ASSIGN(s, get_string(f, p));
          auto a = aggregation_from(s);
          if (name == "aggregation") {
            if (!a) {
              return bad(p, "unknown aggregation ", in_quotes(s),
                         " (expected count, sum, max, min, latest or unique_count)");
            }
            m.agg = *a;
            has_aggregation = true;
          } else {
            if (!a || *a == aggregation::unique_count) {
              return bad(p, "unknown window aggregation ", in_quotes(s),
                         " (expected sum, max, min, latest or count)");
            }
            m.window_agg = *a;
          }
        } else if (name == "value") {
          std::string s;
          CATALOG_TRY_ASSIGN(s, get_string(f, p));
          CATALOG_TRY(check_pointer(s, p));
          if (s.empty()) {
            return bad(p, "\"\" points at the whole event, which is never a meter value");
          }
          value = std::move(s);
        } else if (name == "filter") {
          od::object filter;
          CATALOG_TRY_ASSIGN(filter, get_object(f, p));
          CATALOG_TRY(walk_object(
              filter, p, object_kind::map,
              [&](std::string_view pointer, od::value& fv, const std::string& fp) -> result<bool> {
                CATALOG_TRY(check_pointer(pointer, fp));
                meter_filter mf{std::string(pointer), {}};
                CATALOG_TRY_ASSIGN(mf.value, get_string(fv, fp));
                m.filters.push_back(std::move(mf));
                return true;
              }));
        } else if (name == "group_by") {
          od::object groups;
          CATALOG_TRY_ASSIGN(groups, get_object(f, p));
          CATALOG_TRY(walk_object(
              groups, p, object_kind::map,
              [&](std::string_view group, od::value& gv, const std::string& gp) -> result<bool> {
                if (group.empty()) return bad(gp, "a group name must not be empty");
                meter_group g{std::string(group), {}};
                CATALOG_TRY_ASSIGN(g.pointer, get_string(gv, gp));
                CATALOG_TRY(check_pointer(g.pointer, gp));
                m.group_by.push_back(std::move(g));
                return true;
              }));
        } else {
          return false;
        }
        return true;
      }));
  if (!has_key) return bad(path, "missing \"key\"");
  if (!has_event_type) return bad(path, "missing \"event_type\"");
  if (!has_aggregation) return bad(path, "missing \"aggregation\"");
  // A value is read unless the step that sees the events counts them: with window_aggregation
  // that step is the window (aggregation then combines window results), without it aggregation.
  const aggregation reads_events = m.window_agg ? *m.window_agg : m.agg;
  if (reads_events != aggregation::count && !value) {
    return bad(path, "missing \"value\" (", m.window_agg ? "window_aggregation " : "aggregation ",
               to_string(reads_events), " reads a value)");
  }
  if (value) m.value_pointer = std::move(*value);
  return m;
}

result<void> catalog_parser::parse_plans(od::value& v, const std::string& path) {
  od::array arr;
  CATALOG_TRY_ASSIGN(arr, get_array(v, path));
  return walk_array(arr, path, [&](od::value& e, const std::string& p) -> result<void> {
    plan pl;
    CATALOG_TRY_ASSIGN(pl, parse_plan(e, p));
    for (const auto& other : c_.plans) {
      if (other.key == pl.key) {
        return bad(member_path(p, "key"), "duplicate plan key ", in_quotes(pl.key));
      }
    }
    c_.plans.push_back(std::move(pl));
    return {};
  });
}

result<plan> catalog_parser::parse_plan(od::value& v, const std::string& path) {
  od::object obj;
  CATALOG_TRY_ASSIGN(obj, get_object(v, path));
  plan pl;
  bool has_key = false, has_currency = false, has_versions = false;
  CATALOG_TRY(walk_object(
      obj, path, object_kind::schema,
      [&](std::string_view name, od::value& f, const std::string& p) -> result<bool> {
        if (name == "key") {
          CATALOG_TRY_ASSIGN(pl.key, get_nonempty_string(f, p));
          has_key = true;
        } else if (name == "currency") {
          CATALOG_TRY_ASSIGN(pl.currency, get_string(f, p));
          if (pl.currency.size() != 3 ||
              !std::ranges::all_of(pl.currency, [](char ch) { return ch >= 'A' && ch <= 'Z'; })) {
            return bad(p, "must be three upper-case letters (ISO 4217), got ",
                       in_quotes(pl.currency));
          }
          has_currency = true;
        } else if (name == "versions") {
          od::array arr;
          CATALOG_TRY_ASSIGN(arr, get_array(f, p));
          CATALOG_TRY(walk_array(arr, p, [&](od::value& e, const std::string& vp) -> result<void> {
            plan_version pv;
            CATALOG_TRY_ASSIGN(pv, parse_version(e, vp));
            if (!pl.versions.empty() && pv.effective_from <= pl.versions.back().effective_from) {
              return bad(member_path(vp, "effective_from"),
                         "versions must have strictly ascending effective_from (",
                         format_utc(pv.effective_from), " after ",
                         format_utc(pl.versions.back().effective_from), ")");
            }
            pl.versions.push_back(std::move(pv));
            return {};
          }));
          if (pl.versions.empty()) return bad(p, "must not be empty");
          has_versions = true;
        } else {
          return false;
        }
        return true;
      }));
  if (!has_key) return bad(path, "missing \"key\"");
  if (!has_currency) return bad(path, "missing \"currency\"");
  if (!has_versions) return bad(path, "missing \"versions\"");
  return pl;
}

result<plan_version> catalog_parser::parse_version(od::value& v, const std::string& path) {
  od::object obj;
  CATALOG_TRY_ASSIGN(obj, get_object(v, path));
  plan_version pv;
  bool has_effective_from = false, has_charges = false;
  CATALOG_TRY(walk_object(
      obj, path, object_kind::schema,
      [&](std::string_view name, od::value& f, const std::string& p) -> result<bool> {
        if (name == "effective_from") {
          std::string text;
          CATALOG_TRY_ASSIGN(text, get_string(f, p));
          auto t = parse_rfc3339(text);
          if (!t) return bad(p, "invalid RFC 3339 time ", in_quotes(text), ": ", t.error().message);
          pv.effective_from = *t;
          has_effective_from = true;
        } else if (name == "charges") {
          od::array arr;
          CATALOG_TRY_ASSIGN(arr, get_array(f, p));
          std::optional<size_t> minimum_at;
          CATALOG_TRY(walk_array(arr, p, [&](od::value& e, const std::string& cp) -> result<void> {
            charge ch;
            CATALOG_TRY_ASSIGN(ch, parse_charge(e, cp));
            if (ch.type == charge_type::minimum) {
              if (minimum_at) {
                return bad(cp, "at most one minimum charge per version (",
                           index_path(p, *minimum_at), " is one already)");
              }
              minimum_at = pv.charges.size();
            }
            pv.charges.push_back(std::move(ch));
            return {};
          }));
          has_charges = true;
        } else {
          return false;
        }
        return true;
      }));
  if (!has_effective_from) return bad(path, "missing \"effective_from\"");
  if (!has_charges) return bad(path, "missing \"charges\"");
  return pv;
}

// Whether member `name` belongs in a charge of this type (and model, for usage charges). While
// the type or model is not known yet (members come in any order) the check passes and is made
// again once the whole object has been read; when they come first, as they usually do, a member
// that does not belong is reported before its value is even looked at.
result<void> check_member(const std::string& path, std::string_view name,
                          std::optional<charge_type> type, std::optional<pricing_model> model) {
  if (name == "type" || !type) return {};
  if (*type != charge_type::usage) {
    if (name == "amount") return {};
    return bad(member_path(path, name), "not allowed in a ", to_string(*type), " charge");
  }
  if (name == "meter" || name == "model" || !model) return {};
  bool allowed = false;
  switch (*model) {
    case pricing_model::per_unit:
      allowed = name == "unit_price";
      break;
    case pricing_model::graduated:
    case pricing_model::volume:
      allowed = name == "tiers" || name == "alerts";
      break;
    case pricing_model::package:
      allowed = name == "package_size" || name == "package_price";
      break;
  }
  if (allowed) return {};
  if (name == "alerts") {
    return bad(member_path(path, name),
               "alerts need a graduated or volume charge whose first tier is bounded (the "
               "percents refer to its up_to, the included amount)");
  }
  return bad(member_path(path, name), "not allowed in a ", to_string(*model), " usage charge");
}

result<charge> catalog_parser::parse_charge(od::value& v, const std::string& path) {
  od::object obj;
  CATALOG_TRY_ASSIGN(obj, get_object(v, path));
  charge_members cm;
  CATALOG_TRY(walk_object(
      obj, path, object_kind::schema,
      [&](std::string_view name, od::value& f, const std::string& p) -> result<bool> {
        static constexpr std::string_view known[] = {"type",          "meter",      "model",
                                                     "amount",        "unit_price", "package_size",
                                                     "package_price", "tiers",      "alerts"};
        if (std::ranges::find(known, name) == std::end(known)) return false;
        CATALOG_TRY(check_member(path, name, cm.type, cm.model));
        if (name == "type") {
          std::string s;
          CATALOG_TRY_ASSIGN(s, get_string(f, p));
          cm.type = charge_type_from(s);
          if (!cm.type) {
            return bad(p, "unknown charge type ", in_quotes(s),
                       " (expected recurring, usage or minimum)");
          }
        } else if (name == "model") {
          std::string s;
          CATALOG_TRY_ASSIGN(s, get_string(f, p));
          cm.model = pricing_model_from(s);
          if (!cm.model) {
            return bad(p, "unknown pricing model ", in_quotes(s),
                       " (expected per_unit, graduated, volume or package)");
          }
        } else if (name == "meter") {
          CATALOG_TRY_ASSIGN(cm.meter, get_nonempty_string(f, p));
        } else if (name == "amount") {
          CATALOG_TRY_ASSIGN(cm.amount, get_decimal(f, p));
        } else if (name == "unit_price") {
          CATALOG_TRY_ASSIGN(cm.unit_price, get_decimal(f, p));
        } else if (name == "package_size") {
          CATALOG_TRY_ASSIGN(cm.package_size, get_decimal(f, p));
          if (cm.package_size->is_zero()) return bad(p, "must be greater than 0");
        } else if (name == "package_price") {
          CATALOG_TRY_ASSIGN(cm.package_price, get_decimal(f, p));
        } else if (name == "tiers") {
          CATALOG_TRY_ASSIGN(cm.tiers, parse_tiers(f, p));
        } else if (name == "alerts") {
          CATALOG_TRY_ASSIGN(cm.alerts, parse_alerts(f, p));
        }
        cm.names.emplace_back(name);
        return true;
      }));

  if (!cm.type) return bad(path, "missing \"type\"");
  charge ch;
  ch.type = *cm.type;
  if (ch.type != charge_type::usage) {
    for (const auto& name : cm.names) CATALOG_TRY(check_member(path, name, cm.type, cm.model));
    if (!cm.amount) return bad(path, "a ", to_string(ch.type), " charge needs \"amount\"");
    ch.amount = *cm.amount;
    return ch;
  }

  if (!cm.meter) return bad(path, "a usage charge needs \"meter\"");
  if (!cm.model) return bad(path, "a usage charge needs \"model\"");
  for (const auto& name : cm.names) CATALOG_TRY(check_member(path, name, cm.type, cm.model));
  ch.model = *cm.model;
  ch.meter = *cm.meter;
  switch (ch.model) {
    case pricing_model::per_unit:
      if (!cm.unit_price) return bad(path, "a per_unit charge needs \"unit_price\"");
      ch.unit_price = *cm.unit_price;
      break;
    case pricing_model::graduated:
    case pricing_model::volume:
      if (!cm.tiers) return bad(path, "a ", to_string(ch.model), " charge needs \"tiers\"");
      ch.tiers = std::move(*cm.tiers);
      if (cm.alerts) {
        if (!ch.tiers.front().up_to) {
          return bad(member_path(path, "alerts"),
                     "alerts need a bounded first tier (the percents refer to its up_to, the "
                     "included amount)");
        }
        ch.alerts = std::move(*cm.alerts);
      }
      break;
    case pricing_model::package:
      if (!cm.package_size) return bad(path, "a package charge needs \"package_size\"");
      if (!cm.package_price) return bad(path, "a package charge needs \"package_price\"");
      ch.package_size = *cm.package_size;
      ch.package_price = *cm.package_price;
      break;
  }
  return ch;
}

result<std::vector<tier>> catalog_parser::parse_tiers(od::value& v, const std::string& path) {
  od::array arr;
  CATALOG_TRY_ASSIGN(arr, get_array(v, path));
  std::vector<tier> tiers;
  CATALOG_TRY(walk_array(arr, path, [&](od::value& e, const std::string& p) -> result<void> {
    tier t;
    CATALOG_TRY_ASSIGN(t, parse_tier(e, p));
    if (!tiers.empty()) {
      const auto& prev = tiers.back();
      if (!prev.up_to) {
        return bad(member_path(index_path(path, tiers.size() - 1), "up_to"),
                   "only the last tier may be unbounded (\"up_to\": null)");
      }
      if (t.up_to && *t.up_to <= *prev.up_to) {
        return bad(member_path(p, "up_to"), "tiers must ascend (", t.up_to->to_string(), " after ",
                   prev.up_to->to_string(), ")");
      }
    }
    tiers.push_back(std::move(t));
    return {};
  }));
  if (tiers.empty()) return bad(path, "must not be empty");
  if (tiers.back().up_to) {
    return bad(member_path(index_path(path, tiers.size() - 1), "up_to"),
               "the last tier must be unbounded (\"up_to\": null)");
  }
  return tiers;
}

result<tier> catalog_parser::parse_tier(od::value& v, const std::string& path) {
  od::object obj;
  CATALOG_TRY_ASSIGN(obj, get_object(v, path));
  tier t;
  bool has_up_to = false, has_unit_price = false;
  CATALOG_TRY(
      walk_object(obj, path, object_kind::schema,
                  [&](std::string_view name, od::value& f, const std::string& p) -> result<bool> {
                    if (name == "up_to") {
                      CATALOG_TRY_ASSIGN(t.up_to, get_optional_decimal(f, p));
                      if (t.up_to && t.up_to->is_zero()) return bad(p, "must be greater than 0");
                      has_up_to = true;
                    } else if (name == "unit_price") {
                      CATALOG_TRY_ASSIGN(t.unit_price, get_decimal(f, p));
                      has_unit_price = true;
                    } else if (name == "flat_price") {
                      CATALOG_TRY_ASSIGN(t.flat_price, get_decimal(f, p));
                    } else {
                      return false;
                    }
                    return true;
                  }));
  if (!has_up_to) return bad(path, "missing \"up_to\" (null for the last, unbounded tier)");
  if (!has_unit_price && !t.flat_price) {
    return bad(path, "a tier needs \"unit_price\" and/or \"flat_price\"");
  }
  return t;
}

result<std::vector<decimal>> catalog_parser::parse_alerts(od::value& v, const std::string& path) {
  od::array arr;
  CATALOG_TRY_ASSIGN(arr, get_array(v, path));
  std::vector<decimal> alerts;
  CATALOG_TRY(walk_array(arr, path, [&](od::value& e, const std::string& p) -> result<void> {
    decimal d;
    CATALOG_TRY_ASSIGN(d, get_decimal(e, p));
    if (d.is_zero()) return bad(p, "an alert percent must be greater than 0");
    if (!alerts.empty() && d <= alerts.back()) {
      return bad(p, "alerts must ascend (", d.to_string(), " after ", alerts.back().to_string(),
                 ")");
    }
    alerts.push_back(d);
    return {};
  }));
  return alerts;
}

// Charges may name meters that appear later in the document, so they are resolved at the end.
result<void> catalog_parser::resolve_meters() {
  for (size_t p = 0; p < c_.plans.size(); ++p) {
    auto& versions = c_.plans[p].versions;
    for (size_t v = 0; v < versions.size(); ++v) {
      auto& charges = versions[v].charges;
      for (size_t i = 0; i < charges.size(); ++i) {
        auto& ch = charges[i];
        if (ch.type != charge_type::usage) continue;
        auto it = std::ranges::find(c_.meters, ch.meter, &meter::key);
        if (it == c_.meters.end()) {
          return bad("plans[" + std::to_string(p) + "].versions[" + std::to_string(v) +
                         "].charges[" + std::to_string(i) + "].meter",
                     "unknown meter ", in_quotes(ch.meter));
        }
        ch.meter_index = static_cast<uint32_t>(std::distance(c_.meters.begin(), it));
      }
    }
  }
  return {};
}

#undef CATALOG_TRY
#undef CATALOG_TRY_ASSIGN

// ---- describe --------------------------------------------------------------------------------

// Money at the catalog's scale ("100.00"), but never hiding digits beyond it ("49.999").
std::string money(decimal d, int scale) {
  const std::string s = d.to_string();
  const auto dot = s.find('.');
  const int digits = dot == std::string::npos ? 0 : static_cast<int>(s.size() - dot - 1);
  return d.to_fixed(std::max(scale, digits));
}

std::string describe_tier_price(const tier& t, int scale) {
  std::string s = "at " + t.unit_price.to_string();
  if (t.flat_price) s += " + " + money(*t.flat_price, scale) + " flat";
  return s;
}

std::string describe_charge(const charge& ch, int scale) {
  switch (ch.type) {
    case charge_type::recurring:
      return "recurring " + money(ch.amount, scale) + " per period";
    case charge_type::minimum:
      return "minimum " + money(ch.amount, scale) + " per period (true-up)";
    case charge_type::usage:
      break;
  }
  std::string s = "usage " + ch.meter + " " + std::string(to_string(ch.model));
  switch (ch.model) {
    case pricing_model::per_unit:
      s += " at " + ch.unit_price.to_string() + " per unit";
      break;
    case pricing_model::package:
      s += ": " + money(ch.package_price, scale) + " per package of " +
           ch.package_size.to_string() + " (started packages count in full)";
      break;
    case pricing_model::graduated:
    case pricing_model::volume: {
      s += ": ";
      decimal prev;
      for (size_t i = 0; i < ch.tiers.size(); ++i) {
        const auto& t = ch.tiers[i];
        if (i > 0) s += ", ";
        if (t.up_to) {
          s += prev.to_string() + "-" + t.up_to->to_string();
        } else {
          s += "above " + prev.to_string();
        }
        s += " " + describe_tier_price(t, scale);
        if (t.up_to) prev = *t.up_to;
      }
      if (ch.model == pricing_model::volume) s += " (all units at the tier the quantity reaches)";
      if (!ch.alerts.empty()) {
        s += "; alerts at ";
        for (size_t i = 0; i < ch.alerts.size(); ++i) {
          if (i > 0) s += ", ";
          s += ch.alerts[i].to_string() + "%";
        }
      }
      break;
    }
  }
  return s;
}

std::string describe_meter(const meter& m) {
  std::string s =
      "meter " + m.key + ": event type " + m.event_type + ", " + std::string(to_string(m.agg));
  if (!m.value_pointer.empty()) s += " of " + m.value_pointer;
  for (const auto& f : m.filters) s += ", filter " + f.pointer + " = " + in_quotes(f.value);
  if (m.window_agg) s += ", window aggregation " + std::string(to_string(*m.window_agg));
  if (!m.group_by.empty()) {
    s += ", group by ";
    for (size_t i = 0; i < m.group_by.size(); ++i) {
      if (i > 0) s += ", ";
      s += m.group_by[i].name + "=" + m.group_by[i].pointer;
    }
  }
  return s;
}

}  // namespace

std::string_view to_string(aggregation a) {
  switch (a) {
    case aggregation::count:
      return "count";
    case aggregation::sum:
      return "sum";
    case aggregation::max:
      return "max";
    case aggregation::min:
      return "min";
    case aggregation::latest:
      return "latest";
    case aggregation::unique_count:
      return "unique_count";
  }
  return "?";
}

std::string_view to_string(charge_type t) {
  switch (t) {
    case charge_type::recurring:
      return "recurring";
    case charge_type::usage:
      return "usage";
    case charge_type::minimum:
      return "minimum";
  }
  return "?";
}

std::string_view to_string(pricing_model m) {
  switch (m) {
    case pricing_model::per_unit:
      return "per_unit";
    case pricing_model::graduated:
      return "graduated";
    case pricing_model::volume:
      return "volume";
    case pricing_model::package:
      return "package";
  }
  return "?";
}

const plan_version* plan::version_at(timestamp t) const {
  auto it = std::ranges::upper_bound(versions, t, std::less<>{}, &plan_version::effective_from);
  if (it == versions.begin()) return nullptr;
  return &*std::prev(it);
}

result<catalog> catalog::parse(std::string_view json) {
  auto c = catalog_parser().run(json);
  if (c) c->build_indexes();
  return c;
}

result<catalog> catalog::load_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(path, ": cannot open: ", std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return fail(path, ": cannot read: ", std::strerror(errno));
  auto c = parse(text.str());
  if (!c) return fail(path, ": ", c.error().message);
  return c;
}

const plan* catalog::find_plan(std::string_view key) const {
  auto it = plan_by_key_.find(key);
  return it == plan_by_key_.end() ? nullptr : &plans[it->second];
}

std::span<const uint32_t> catalog::meters_for_type(std::string_view type) const {
  auto it = meters_by_type_.find(type);
  if (it == meters_by_type_.end()) return {};
  return it->second;
}

void catalog::build_indexes() {
  meters_by_type_.clear();
  plan_by_key_.clear();
  for (uint32_t i = 0; i < meters.size(); ++i) meters_by_type_[meters[i].event_type].push_back(i);
  for (uint32_t i = 0; i < plans.size(); ++i) plan_by_key_.emplace(plans[i].key, i);
}

std::string describe(const catalog& c) {
  std::string out = "rounding: " + std::to_string(c.rounding_scale) + " fractional digits, " +
                    (c.rounding == rounding_mode::half_even ? "half_even" : "half_up") + "\n";
  for (const auto& m : c.meters) out += describe_meter(m) + "\n";
  for (const auto& pl : c.plans) {
    for (const auto& pv : pl.versions) {
      out += pl.key + " (" + pl.currency + "), from " + format_utc(pv.effective_from) + ":\n";
      if (pv.charges.empty()) out += "  no charges\n";
      for (const auto& ch : pv.charges) out += "  " + describe_charge(ch, c.rounding_scale) + "\n";
    }
  }
  return out;
}

}  // namespace meterflow
