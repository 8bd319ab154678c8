// Tests protocols/entity.cpp: the registry as docs/ENTITIES.md pins it and the
// validation of every field kind (issue #4's "validation errors for every
// field type").
#include "protocols/entity.hpp"

#include <catch2/catch.hpp>

using namespace crm::protocols;

namespace {

// The errors of reading `json` as a create (or patch) of `path`, as "field:code".
std::vector<std::string> errors_of(std::string_view path, std::string_view json, bool create = true) {
  json_body body{json};
  REQUIRE(body.ok());
  read_record(body, *entity_by_path(path), create);
  std::vector<std::string> out;
  for (const auto& e : body.errors()) out.push_back(e.field + ":" + e.code);
  return out;
}

} // namespace

TEST_CASE("the registry has the pinned entities and fields", "[protocols][entity]") {
  for (auto path : {"customers", "deals", "products", "warehouses", "price-lists"}) {
    const auto* e = entity_by_path(path);
    REQUIRE(e);
    for (auto common : {"id", "created_at", "updated_at", "version"}) {
      REQUIRE(e->field(common));
      CHECK_FALSE(e->field(common)->writable);
    }
  }
  CHECK(entity_by_path("price-lists")->table == "price_lists");
  CHECK(entity_by_path("customers")->field("tax_id")->sensitive);
  CHECK(entity_by_path("products")->field("cost")->sensitive);
  CHECK(entity_by_path("customers")->field("annual_revenue")->sensitive);
  CHECK(entity_by_path("products")->field("sku")->required);
  CHECK(entity_by_path("deals")->field("customer_id")->references == "customers");
  CHECK_FALSE(entity_by_path("contacts"));
}

TEST_CASE("a valid create yields every given writable field in registry order", "[protocols][entity]") {
  json_body body{R"({"name":"Acme","email":"a@acme.test","status":"lead","annual_revenue":"1250.00","notes":null})"};
  auto values = read_record(body, *entity_by_path("customers"), true);
  REQUIRE(body.errors().empty());
  REQUIRE(values.size() == 5);
  CHECK(values[0].name == "name");
  CHECK(values[0].value == "Acme");
  CHECK(values[3].name == "annual_revenue");
  CHECK(values[3].value == "1250.00");
  CHECK(values[4].name == "notes");
  CHECK_FALSE(values[4].value);  // null clears
}

TEST_CASE("every field kind rejects what it must", "[protocols][entity]") {
  using list = std::vector<std::string>;
  CHECK(errors_of("customers", R"({})") == list{"name:required"});
  CHECK(errors_of("customers", R"({"name":42})") == list{"name:type"});
  CHECK(errors_of("customers", R"({"name":"x","status":"vip"})") == list{"status:choice"});
  CHECK(errors_of("customers", R"({"name":"x","email":"nope"})") == list{"email:format"});
  CHECK(errors_of("customers", R"({"name":"x","owner_id":"123"})") == list{"owner_id:format"});
  CHECK(errors_of("customers", R"({"name":"x","annual_revenue":1250})") == list{"annual_revenue:type"});
  CHECK(errors_of("customers", R"({"name":"x","annual_revenue":"1e3"})") == list{"annual_revenue:format"});
  CHECK(errors_of("customers", R"({"name":"x","annual_revenue":"12.345"})") == list{"annual_revenue:format"});
  CHECK(errors_of("customers", R"({"name":"x","annual_revenue":"-1.00"})") == list{"annual_revenue:format"});
  CHECK(errors_of("customers", R"({"name":")" + std::string(201, 'a') + R"("})") == list{"name:too_long"});
  CHECK(errors_of("customers", R"({"name":"x","nam":"y"})") == list{"nam:unknown"});
  CHECK(errors_of("customers", R"({"name":"x","id":"y","version":3})") == list{"id:read_only", "version:read_only"});
  CHECK(errors_of("deals", R"({"customer_id":"6f1c2a4e-0000-4000-8000-000000000001","title":"t","currency":"EURO"})") ==
        list{"currency:format"});
  CHECK(errors_of("deals", R"({"customer_id":"6f1c2a4e-0000-4000-8000-000000000001","title":"t","close_date":"2026-02-30"})") ==
        list{"close_date:format"});
  CHECK(errors_of("products", R"({"sku":"A1","name":"n","active":"yes"})") == list{"active:type"});
  CHECK(errors_of("products", R"({"sku":null,"name":"n"})") == list{"sku:required"});
}

TEST_CASE("a patch takes any writable subset but not nothing", "[protocols][entity]") {
  using list = std::vector<std::string>;
  CHECK(errors_of("products", R"({"active":false})", false).empty());
  CHECK(errors_of("products", R"({})", false) == list{":required"});
  CHECK(errors_of("products", R"({"name":""})", false) == list{"name:too_short"});
}

TEST_CASE("money out of range, non-nullable defaults and date order", "[protocols][entity]") {
  using list = std::vector<std::string>;
  CHECK(errors_of("customers", R"({"name":"x","annual_revenue":"12345678901234567.00"})") ==
        list{"annual_revenue:range"});
  CHECK(errors_of("customers", R"({"name":"x","annual_revenue":"1234567890123456.99"})").empty());
  CHECK(errors_of("customers", R"({"name":"x","status":null})") == list{"status:required"});
  CHECK(errors_of("products", R"({"active":null})", false) == list{"active:required"});
  CHECK(errors_of("customers", R"({"name":"x","email":null})").empty());  // optional: null clears
  CHECK(errors_of("price-lists", R"({"name":"p","valid_from":"2026-05-01","valid_to":"2026-04-30"})") ==
        list{"valid_to:range"});
  CHECK(errors_of("price-lists", R"({"name":"p","valid_from":"2026-05-01","valid_to":"2026-05-01"})").empty());
}

TEST_CASE("price-list items are product/price pairs, each product once", "[protocols][entity]") {
  using list = std::vector<std::string>;
  const std::string p1 = "6f1c2a4e-0000-4000-8000-000000000001", p2 = "6F1C2A4E-0000-4000-8000-000000000002";
  json_body body{R"({"name":"p","items":[{"product_id":")" + p1 + R"(","price":"9.5"},{"product_id":")" + p2 +
                 R"(","price":"007"}]})"};
  auto values = read_record(body, *entity_by_path("price-lists"), true);
  REQUIRE(body.errors().empty());
  REQUIRE(values.size() == 2);
  CHECK(values[1].name == "items");
  CHECK(values[1].value == R"([{"product_id":")" + p1 + R"(","price":"9.50"},{"product_id":")" +
                               ascii_lower(p2) + R"(","price":"7.00"}])");
  CHECK(errors_of("price-lists", R"({"name":"p","items":{}})") == list{"items:type"});
  CHECK(errors_of("price-lists", R"({"name":"p","items":null})") == list{"items:required"});
  CHECK(errors_of("price-lists", R"({"name":"p","items":[5]})") == list{"items.0:type"});
  CHECK(errors_of("price-lists", R"({"name":"p","items":[{}]})") ==
        list{"items.0.product_id:required", "items.0.price:required"});
  CHECK(errors_of("price-lists", R"({"name":"p","items":[{"product_id":"x","price":"1e3","extra":1}]})") ==
        list{"items.0.extra:unknown", "items.0.product_id:format", "items.0.price:format"});
  CHECK(errors_of("price-lists", R"({"name":"p","items":[{"product_id":")" + p1 + R"(","price":"1"},{"product_id":")" +
                                     p1 + R"(","price":"2"}]})") == list{"items:duplicate"});
  std::string many = R"({"name":"p","items":[)";
  for (size_t i = 0; i <= max_price_list_items; ++i) many.append(i ? ",{}" : "{}");
  CHECK(errors_of("price-lists", many + "]}") == list{"items:too_long"});
}
