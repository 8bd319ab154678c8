#include "storage/sql/event_sql.hpp"

namespace crm::storage {

std::string sql_literal(const std::string& text) {
  std::string out{"'"};
  for (char ch : text) {
    if (ch == '\'') out += '\'';
    out += ch;
  }
  return out + "'";
}

std::string with_event(const std::string& change, const std::string& tenant_sql, const std::string& type_sql,
                       const std::string& subject_sql, const std::string& data_sql, const std::string& source) {
  if (source.empty())
    return "WITH w AS (" + change + "), o AS (INSERT INTO outbox (tenant_id, type, subject, data) SELECT " +
           tenant_sql + ", " + type_sql + ", " + subject_sql + ", " + data_sql + " FROM w) SELECT * FROM w";
  return "WITH w AS (" + change + "), o AS (INSERT INTO outbox (tenant_id, type, subject, data, source) SELECT " +
         tenant_sql + ", " + type_sql + ", " + subject_sql + ", " + data_sql + ", " + sql_literal(source) +
         " FROM w) SELECT * FROM w";
}

pg_query event_query(const std::string& tenant, const std::string& type, const std::string& subject,
                     const std::string& data_json) {
  return {stmt_event_insert, {tenant, type, subject, data_json}, true};
}

pg_query event_context(const std::string& traceparent) { return {stmt_event_context, {traceparent}, true}; }

std::vector<pg_statement> event_statements() {
  return {
      {stmt_event_insert, "INSERT INTO outbox (tenant_id, type, subject, data) VALUES ($1, $2, $3, $4::jsonb)"},
      {stmt_event_context, "SELECT set_config('app.traceparent', $1, true)"},
      {stmt_relay_context, "SELECT set_config('app.relay', 'on', true)"},
      {stmt_outbox_batch,
       "SELECT seq, json_build_object('specversion', '1.0', 'id', id, 'source', source, 'type', type,"
       " 'time', to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'),"
       " 'datacontenttype', 'application/json', 'subject', subject, 'tenantid', tenant_id,"
       " 'traceparent', traceparent, 'data', data)::text, id, (extract(epoch FROM time) * 1000)::bigint"
       " FROM outbox ORDER BY seq LIMIT $1"},
      {stmt_outbox_delete, "DELETE FROM outbox WHERE seq = ANY ($1::bigint[])"},
  };
}

} // namespace crm::storage
