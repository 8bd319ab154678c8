// storage/pg/migrations.hpp
// `nextcrm migrate`: applies storage/migrations/NNNN_name.sql in numeric
// order. The whole run holds a session advisory lock (two nodes starting at
// once apply each file once); each file runs in its own transaction together
// with its schema_migrations row (version, name, sha256 checksum,
// applied_at). Re-running applies nothing. A file whose checksum differs
// from the recorded one is an error: applied migrations are never edited.
// Blocking libpq: this runs as a CLI command, never on an I/O thread.
#pragma once
#include <caf/expected.hpp>

#include <functional>
#include <string>
#include <vector>

namespace crm::storage {

struct migration_file {
  int version = 0;
  std::string name;      // "0001_baseline"
  std::string sql;
  std::string checksum;  // sha256 hex of sql
};

// Reads NNNN_name.sql files of `dir`, sorted by version. Errors on a bad
// file name, a duplicate version, or an unreadable file.
caf::expected<std::vector<migration_file>> load_migrations(const std::string& dir);

struct migrate_report {
  std::vector<std::string> applied;  // names applied by this run
  size_t already_applied = 0;
};

// Applies what is missing. `log(line)` receives progress messages.
caf::expected<migrate_report> run_migrations(const std::string& conninfo, const std::string& dir,
                                              const std::function<void(const std::string&)>& log);

} // namespace crm::storage
