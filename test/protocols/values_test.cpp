// Tests protocols/values.cpp: money strings, currencies, dates.
#include "protocols/values.hpp"

#include <catch2/catch.hpp>

#include <algorithm>

using namespace crm::protocols;

TEST_CASE("money is a decimal string with at most two decimals", "[protocols][values]") {
  for (auto ok : {"0", "1250.00", "12.5", "0.01", "9999999999999999.99"}) {
    CAPTURE(ok);
    CHECK(is_money(ok));
  }
  for (auto bad : {"", "1e3", "12.345", "-5.00", "+5", " 5", "5 ", "1,250.00", "12.", ".5", "NaN", "0x10",
                   "10000000000000000", "1.2.3"}) {
    CAPTURE(bad);
    CHECK_FALSE(is_money(bad));
  }
  CHECK(is_money("1.2345", 4));
}

TEST_CASE("currencies are active ISO 4217 codes", "[protocols][values]") {
  for (auto ok : {"EUR", "USD", "JPY", "CHF", "XOF"}) CHECK(is_iso4217(ok));
  for (auto bad : {"", "eur", "EURO", "XAU", "ABC", "US"}) {
    CAPTURE(bad);
    CHECK_FALSE(is_iso4217(bad));
  }
}

TEST_CASE("dates are real calendar days", "[protocols][values]") {
  for (auto ok : {"2026-11-24", "2024-02-29", "2000-02-29", "1900-01-01", "9999-12-31"}) CHECK(is_iso_date(ok));
  for (auto bad : {"", "2026-13-01", "2026-00-10", "2026-02-30", "2100-02-29", "1899-12-31", "2026-1-01",
                   "2026/11/24", "2026-11-24T00:00:00Z", "20261124"}) {
    CAPTURE(bad);
    CHECK_FALSE(is_iso_date(bad));
  }
}

TEST_CASE("money normalises to two decimals without leading zeros", "[protocols][values]") {
  CHECK(normalize_money("9.5") == "9.50");
  CHECK(normalize_money("007") == "7.00");
  CHECK(normalize_money("0.1") == "0.10");
  CHECK(normalize_money("0") == "0.00");
  CHECK(normalize_money("1250.00") == "1250.00");
}

TEST_CASE("values: PostgreSQL text[] literals quote and escape every item", "[protocols][values]") {
  CHECK(pg_array_literal({}) == "{}");
  CHECK(pg_array_literal({"a", ""}) == R"({"a",""})");
  CHECK(pg_array_literal({R"(b"c)", R"(d\e)", "f,g", "{h}"}) == R"({"b\"c","d\\e","f,g","{h}"})");
}
