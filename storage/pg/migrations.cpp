#include "storage/pg/migrations.hpp"

#include "protocols/errc.hpp"
#include "protocols/hex.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

namespace crm::storage {

using protocols::errc;
using protocols::error_of;

namespace {

// Arbitrary, fixed key of the advisory lock that serializes migration runs.
constexpr const char* lock_key = "7283190462";

using pg_ptr = std::unique_ptr<PGconn, decltype(&PQfinish)>;
using result_ptr = std::unique_ptr<PGresult, decltype(&PQclear)>;

result_ptr exec(PGconn* c, const char* sql, std::vector<const char*> params = {}) {
  return result_ptr{PQexecParams(c, sql, static_cast<int>(params.size()), nullptr, params.data(),
                                 nullptr, nullptr, 0),
                    &PQclear};
}

bool ok(const result_ptr& r) {
  auto st = PQresultStatus(r.get());
  return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

caf::error db_error(PGconn* c, const std::string& what) {
  std::string msg = what + ": " + PQerrorMessage(c);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  return error_of(errc::internal, msg);
}

} // namespace


caf::expected<std::vector<migration_file>> load_migrations(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return error_of(errc::internal, "migrations directory not found: " + dir);
  std::map<int, migration_file> by_version;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    auto file = entry.path().filename().string();
    if (entry.path().extension() != ".sql") continue;
    auto underscore = file.find('_');
    if (underscore != 4 || !std::all_of(file.begin(), file.begin() + 4, ::isdigit))
      return error_of(errc::internal, "migration file name must be NNNN_name.sql: " + file);
    migration_file m;
    m.version = std::stoi(file.substr(0, 4));
    m.name = entry.path().stem().string();
    std::ifstream in(entry.path(), std::ios::binary);
    if (!in) return error_of(errc::internal, "cannot read " + file);
    std::ostringstream body;
    body << in.rdbuf();
    m.sql = body.str();
    m.checksum = protocols::sha256_hex(m.sql);
    if (by_version.count(m.version))
      return error_of(errc::internal, "duplicate migration version in " + file);
    by_version.emplace(m.version, std::move(m));
  }
  std::vector<migration_file> out;
  for (auto& [v, m] : by_version) out.push_back(std::move(m));
  return out;
}

caf::expected<migrate_report> run_migrations(const std::string& conninfo, const std::string& dir,
                                              const std::function<void(const std::string&)>& log) {
  auto files = load_migrations(dir);
  if (!files) return files.error();
  pg_ptr conn{PQconnectdb(conninfo.c_str()), &PQfinish};
  if (PQstatus(conn.get()) != CONNECTION_OK) return db_error(conn.get(), "cannot connect");
  PGconn* c = conn.get();
  if (!ok(exec(c, "SET client_min_messages = warning"))) return db_error(c, "session setup");
  if (!ok(exec(c, "SELECT pg_advisory_lock($1::bigint)", {lock_key})))
    return db_error(c, "advisory lock");
  if (!ok(exec(c, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                  " version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,"
                  " applied_at timestamptz NOT NULL DEFAULT now())")))
    return db_error(c, "create schema_migrations");
  auto applied_rows = exec(c, "SELECT version, checksum FROM schema_migrations");
  if (!ok(applied_rows)) return db_error(c, "read schema_migrations");
  std::map<int, std::string> applied;
  for (int i = 0; i < PQntuples(applied_rows.get()); ++i)
    applied[std::stoi(PQgetvalue(applied_rows.get(), i, 0))] = PQgetvalue(applied_rows.get(), i, 1);
  migrate_report report;
  for (const auto& m : *files) {
    if (auto it = applied.find(m.version); it != applied.end()) {
      if (it->second != m.checksum)
        return error_of(errc::internal,
                        "migration " + m.name + " was changed after it was applied (checksum "
                        "mismatch); add a new migration instead");
      ++report.already_applied;
      continue;
    }
    if (!ok(exec(c, "BEGIN"))) return db_error(c, "begin");
    // Simple-query protocol: a migration file may hold many statements.
    result_ptr body{PQexec(c, m.sql.c_str()), &PQclear};
    if (!ok(body)) {
      auto err = db_error(c, "migration " + m.name + " failed");
      exec(c, "ROLLBACK");
      return err;
    }
    auto version = std::to_string(m.version);
    if (!ok(exec(c, "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                 {version.c_str(), m.name.c_str(), m.checksum.c_str()})) ||
        !ok(exec(c, "COMMIT"))) {
      auto err = db_error(c, "record migration " + m.name);
      exec(c, "ROLLBACK");
      return err;
    }
    if (log) log("applied " + m.name);
    report.applied.push_back(m.name);
  }
  exec(c, "SELECT pg_advisory_unlock($1::bigint)", {lock_key});
  return report;
}

} // namespace crm::storage
