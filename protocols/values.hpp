// protocols/values.hpp
// Checks for the value types of the CRM entities (docs/ENTITIES.md,
// issue #4): money as a decimal string with at most two decimals (never a
// float, never an exponent), ISO 4217 currency codes, ISO 8601 calendar
// dates. Pure.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace crm::protocols {

// {"a","b\"c"}: a PostgreSQL text[] literal of `items` (bound as one
// parameter; every item quoted, '"' and '\' escaped).
std::string pg_array_literal(const std::vector<std::string>& items);

// The items of a one-dimensional text[] as PostgreSQL prints it
// ({a,"b c","d\"e"}); NULL items and a malformed literal give no items.
std::vector<std::string> parse_pg_text_array(std::string_view literal);

// "1250.00", "0", "12.5": digits, an optional '.' with 1..`scale` digits, at
// most `integer_digits` before it, no sign, no exponent, no spaces.
bool is_money(std::string_view text, int scale = 2, int integer_digits = 16);
// A valid money string (is_money) in its canonical form: no leading zeros,
// exactly two decimals ("007.5" -> "7.50").
std::string normalize_money(std::string_view text);

// An active ISO 4217 alphabetic code ("EUR", "USD", ...).
bool is_iso4217(std::string_view code);

// "YYYY-MM-DD" naming a real day (leap years included), years 1900-9999.
bool is_iso_date(std::string_view text);

// An RFC 3339 date-time ("2026-11-24T10:00:00.123456Z", "...+01:00") whose
// date is_iso_date and whose offset is within +-15:59 (PostgreSQL's range).
bool is_rfc3339(std::string_view text);

} // namespace crm::protocols
