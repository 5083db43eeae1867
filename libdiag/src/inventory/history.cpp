// The local history: SQLite, because it gives durable, crash-safe,
// concurrent-safe storage without our own file format. One transaction per
// run (a killed run leaves the previous state), WAL and a busy timeout so
// that two overlapping runs both complete, upserts that add this run's new
// sign-ins so that neither run's counts overwrite the other's.
#include <sqlite3.h>

#include <iterator>
#include <limits>

#include "diag/inventory.h"
#include "text_input.h"

namespace diag::inventory {
using namespace detail;
namespace {

// The schema, one step per version: step N brings a database from version
// N to N+1, so an older one is migrated in place through every later step.
constexpr const char* schema_steps[] = {
    // 1: runs, activity per sender and source IP, each run's verdicts.
    "CREATE TABLE runs(id INTEGER PRIMARY KEY, started TEXT NOT NULL, today TEXT NOT NULL);"
    "CREATE TABLE activity(user_key TEXT NOT NULL, user TEXT NOT NULL, ip TEXT NOT NULL,"
    " first_seen INTEGER NOT NULL, last_seen INTEGER NOT NULL, last_success INTEGER NOT NULL,"
    " signins INTEGER NOT NULL, successes INTEGER NOT NULL, failures INTEGER NOT NULL,"
    " PRIMARY KEY(user_key, ip));"
    "CREATE TABLE verdicts(run_id INTEGER NOT NULL REFERENCES runs(id), user_key TEXT NOT NULL, user TEXT NOT NULL,"
    " verdict TEXT NOT NULL, active INTEGER NOT NULL, PRIMARY KEY(run_id, user_key));",
    // 2: the failures' error codes, so that a sender seen only in the history
    // keeps what refused it. Failures stored by version 1 keep no code: they
    // read as refused by an unknown code, as they always did.
    "CREATE TABLE activity_errors(user_key TEXT NOT NULL, ip TEXT NOT NULL, code INTEGER NOT NULL,"
    " failures INTEGER NOT NULL, PRIMARY KEY(user_key, ip, code));",
    // 3: the senders of the EAC SMTP AUTH clients report and the usage
    // report, which have no sign-in of their own: one row per sender and
    // report, the last one read, and the day of the run that read it (the
    // EAC report has no dates of its own).
    "CREATE TABLE reported(user_key TEXT NOT NULL, user TEXT NOT NULL, report TEXT NOT NULL, read_on TEXT NOT NULL,"
    " protocol TEXT, messages INTEGER NOT NULL DEFAULT 0, tls10 REAL NOT NULL DEFAULT 0, tls11 REAL NOT NULL DEFAULT 0,"
    " tls12 REAL NOT NULL DEFAULT 0, last_activity_date TEXT NOT NULL DEFAULT '', report_period TEXT NOT NULL DEFAULT '',"
    " PRIMARY KEY(user_key, report));",
    // 4: the last sign-in counted per sender, IP and sign-in log, so that a
    // log given in a later run is counted, not taken for one read before.
    // What earlier versions counted is known per sender and IP only: that
    // watermark holds for every log, as it did.
    "CREATE TABLE watermarks(user_key TEXT NOT NULL, ip TEXT NOT NULL, log TEXT NOT NULL, last_seen INTEGER NOT NULL,"
    " PRIMARY KEY(user_key, ip, log));"
    "INSERT INTO watermarks SELECT user_key, ip, 'unknown', last_seen FROM activity;",
};
constexpr int schema_version = static_cast<int>(std::size(schema_steps));

std::string_view log_name(Interactivity log) {
  switch (log) {
    case Interactivity::interactive: return "interactive";
    case Interactivity::non_interactive: return "non-interactive";
    case Interactivity::unknown: break;
  }
  return "unknown";
}

Interactivity log_from_name(std::string_view name) {
  if (name == "interactive") return Interactivity::interactive;
  if (name == "non-interactive") return Interactivity::non_interactive;
  return Interactivity::unknown;
}

struct DatabaseCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DatabaseHandle = std::unique_ptr<sqlite3, DatabaseCloser>;

class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    sqlite3_stmt* raw = nullptr;
    status_ = sqlite3_prepare_v2(db, sql, -1, &raw, nullptr);
    statement_.reset(raw);
  }
  bool ok() const { return status_ == SQLITE_OK && statement_; }
  Statement& bind(int index, std::string_view text) {
    sqlite3_bind_text(statement_.get(), index, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int index, std::int64_t value) {
    sqlite3_bind_int64(statement_.get(), index, value);
    return *this;
  }
  int step() { return sqlite3_step(statement_.get()); }
  void reset() {
    sqlite3_reset(statement_.get());
    sqlite3_clear_bindings(statement_.get());
  }
  std::string text(int column) const {
    const auto* value = sqlite3_column_text(statement_.get(), column);
    return value ? reinterpret_cast<const char*>(value) : "";
  }
  std::int64_t integer(int column) const { return sqlite3_column_int64(statement_.get(), column); }
  double real(int column) const { return sqlite3_column_double(statement_.get(), column); }
  Statement& bind(int index, double value) {
    sqlite3_bind_double(statement_.get(), index, value);
    return *this;
  }
  sqlite3_stmt* raw() const { return statement_.get(); }

 private:
  struct Finalizer {
    void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
  };
  sqlite3* db_;
  std::unique_ptr<sqlite3_stmt, Finalizer> statement_;
  int status_ = SQLITE_ERROR;
};

Error database_error(sqlite3* db, const std::string& path, std::string_view doing) {
  const int code = db ? sqlite3_errcode(db) : SQLITE_CANTOPEN;
  std::string message = "history database " + path + ": " + std::string(doing) + ": " +
                        (db ? sqlite3_errmsg(db) : "cannot open");
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return unavailable(message + " (another run holds it too long)");
  return bad_input(message);
}

Result<bool> execute(sqlite3* db, const std::string& path, const char* sql) {
  char* error = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &error) != SQLITE_OK) {
    sqlite3_free(error);
    return database_error(db, path, sql);
  }
  return true;
}

// Rolls back unless committed: an error return in the middle of a run
// leaves the previous state.
class Transaction {
 public:
  Transaction(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  Result<bool> begin() {
    // IMMEDIATE takes the write lock now, so a second run waits (busy
    // timeout) at the start instead of failing at its first write.
    auto begun = execute(db_, path_, "BEGIN IMMEDIATE");
    active_ = begun.ok();
    return begun;
  }
  Result<bool> commit() {
    auto committed = execute(db_, path_, "COMMIT");
    if (committed) active_ = false;
    return committed;
  }
  ~Transaction() {
    if (active_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }

 private:
  sqlite3* db_;
  std::string path_;
  bool active_ = false;
};

std::chrono::sys_seconds from_unix(std::int64_t seconds) { return std::chrono::sys_seconds(std::chrono::seconds(seconds)); }
std::int64_t to_unix(std::chrono::sys_seconds time) { return time.time_since_epoch().count(); }

}  // namespace

struct HistoryDatabase::Impl {
  DatabaseHandle db;
  std::string path;
};

HistoryDatabase::HistoryDatabase(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HistoryDatabase::~HistoryDatabase() = default;
HistoryDatabase::HistoryDatabase(HistoryDatabase&&) noexcept = default;
HistoryDatabase& HistoryDatabase::operator=(HistoryDatabase&&) noexcept = default;

Result<HistoryDatabase> HistoryDatabase::open(const std::string& path, std::chrono::milliseconds busy_timeout) {
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  sqlite3* raw = nullptr;
  const int opened = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  impl->db.reset(raw);
  if (opened != SQLITE_OK) return database_error(raw, path, "open");
  sqlite3* db = impl->db.get();
  sqlite3_busy_timeout(db, static_cast<int>(busy_timeout.count()));
  // WAL: readers never block the writer and the writer never blocks readers;
  // a crash mid-transaction leaves only an uncommitted tail that is ignored.
  {
    Statement wal(db, "PRAGMA journal_mode=WAL");
    if (!wal.ok() || wal.step() != SQLITE_ROW) return database_error(db, path, "setting WAL mode");
  }
  if (auto done = execute(db, path, "PRAGMA synchronous=NORMAL"); !done) return done.error();
  Transaction transaction(db, path);
  if (auto begun = transaction.begin(); !begun) return begun.error();
  Statement version(db, "PRAGMA user_version");
  if (!version.ok() || version.step() != SQLITE_ROW) return database_error(db, path, "reading the schema version");
  const auto found = version.integer(0);
  if (found > schema_version)
    return bad_input("history database " + path + ": schema version " + std::to_string(found) +
                     " was written by a newer sendcheck; use that version or another --db file");
  if (found < 0) return bad_input("history database " + path + ": schema version " + std::to_string(found) + " is not sendcheck's");
  for (auto version = found; version < schema_version; ++version) {
    const std::string step = std::string(schema_steps[version]) + "PRAGMA user_version=" + std::to_string(version + 1) + ";";
    if (auto migrated = execute(db, path, step.c_str()); !migrated) return migrated.error();
  }
  if (auto committed = transaction.commit(); !committed) return committed.error();
  return HistoryDatabase(std::move(impl));
}

Result<bool> HistoryDatabase::load_into(InventoryAggregator& aggregator, std::optional<std::chrono::sys_seconds> since) {
  sqlite3* db = impl_->db.get();
  Statement select(db,
                   "SELECT user_key, user, ip, first_seen, last_seen, last_success, signins, successes, failures "
                   "FROM activity WHERE last_seen >= ?1");
  if (!select.ok()) return database_error(db, impl_->path, "reading the history");
  select.bind(1, since ? to_unix(*since) : std::numeric_limits<std::int64_t>::min());
  int step;
  while ((step = select.step()) == SQLITE_ROW) {
    auto& sender = aggregator.senders()[select.text(0)];
    if (sender.user.empty()) sender.user = select.text(1);
    auto& ip = sender.ips[select.text(2)];
    ip.ip = select.text(2);
    ip.from_history = true;
    ip.first_seen = from_unix(select.integer(3));
    ip.last_seen = from_unix(select.integer(4));
    ip.last_success = from_unix(select.integer(5));
    ip.signins = static_cast<std::uint64_t>(select.integer(6));
    ip.successes = static_cast<std::uint64_t>(select.integer(7));
    ip.failures = static_cast<std::uint64_t>(select.integer(8));
    ip.history_before_since = since && ip.first_seen < *since;
  }
  if (step != SQLITE_DONE) return database_error(db, impl_->path, "reading the history");
  // Every watermark, --since or not: a sign-in counted before is never
  // counted again.
  Statement watermarks(db, "SELECT user_key, ip, log, last_seen FROM watermarks");
  if (!watermarks.ok()) return database_error(db, impl_->path, "reading the history");
  while ((step = watermarks.step()) == SQLITE_ROW)
    aggregator.set_watermark(watermarks.text(0), watermarks.text(1), log_from_name(watermarks.text(2)),
                             from_unix(watermarks.integer(3)));
  if (step != SQLITE_DONE) return database_error(db, impl_->path, "reading the history");
  // What refused the stored failures, for the pairs read above.
  Statement codes(db,
                  "SELECT e.user_key, e.ip, e.code, e.failures FROM activity_errors e JOIN activity a "
                  "ON a.user_key = e.user_key AND a.ip = e.ip WHERE a.last_seen >= ?1 ORDER BY e.user_key, e.ip, e.code");
  if (!codes.ok()) return database_error(db, impl_->path, "reading the history");
  codes.bind(1, since ? to_unix(*since) : std::numeric_limits<std::int64_t>::min());
  while ((step = codes.step()) == SQLITE_ROW) {
    auto sender = aggregator.senders().find(codes.text(0));
    if (sender == aggregator.senders().end()) continue;
    auto ip = sender->second.ips.find(codes.text(1));
    if (ip == sender->second.ips.end()) continue;
    IpActivity::add_code(ip->second.error_codes, codes.integer(2), static_cast<std::uint64_t>(codes.integer(3)));
  }
  if (step != SQLITE_DONE) return database_error(db, impl_->path, "reading the history");
  // The report senders, whatever --since: a report row is no sign-in to
  // count but the sender's use, and a mailbox a report saw sending before
  // the date is never told to disable SMTP AUTH.
  Statement reported(db,
                     "SELECT user_key, user, report, read_on, protocol, messages, tls10, tls11, tls12, last_activity_date, "
                     "report_period FROM reported");
  if (!reported.ok()) return database_error(db, impl_->path, "reading the history");
  while ((step = reported.step()) == SQLITE_ROW) {
    auto& sender = aggregator.senders()[reported.text(0)];
    if (sender.user.empty()) sender.user = reported.text(1);
    if (reported.text(2) == "smtp-auth-report") {
      SmtpAuthReportRow row;
      row.sender = reported.text(1);
      if (sqlite3_column_type(reported.raw(), 4) != SQLITE_NULL) row.authentication_protocol = reported.text(4);
      row.messages = reported.integer(5);
      row.tls10_percent = reported.real(6);
      row.tls11_percent = reported.real(7);
      row.tls12_percent = reported.real(8);
      sender.smtp_auth_report = std::move(row);
      sender.smtp_auth_report_read_on = reported.text(3);
    } else if (reported.text(2) == "usage") {
      UsageRow row;
      row.user = reported.text(1);
      row.smtp_app = true;
      row.last_activity_date = reported.text(9);
      row.report_period = reported.text(10);
      sender.usage = std::move(row);
      sender.usage_read_on = reported.text(3);
    }
  }
  if (step != SQLITE_DONE) return database_error(db, impl_->path, "reading the history");
  if (!since) return true;
  // Per address, so that addresses that only failed are known as tries.
  Statement earlier(db, "SELECT user_key, last_seen, successes, ip FROM activity WHERE last_seen < ?1");
  if (!earlier.ok()) return database_error(db, impl_->path, "reading the history");
  earlier.bind(1, to_unix(*since));
  while ((step = earlier.step()) == SQLITE_ROW)
    aggregator.remember_before_since(earlier.text(0), from_unix(earlier.integer(1)), earlier.integer(2) > 0, std::nullopt,
                                     earlier.integer(2) > 0 ? std::string() : earlier.text(3));
  if (step != SQLITE_DONE) return database_error(db, impl_->path, "reading the history");
  // Successes before --since at an address that signed in after it too: the
  // sender sent with its password before the window, whatever it did since.
  // Each address's, so that a password that worked from many is known.
  Statement succeeded(db, "SELECT user_key, last_success, ip FROM activity WHERE successes > 0 AND last_success < ?1");
  if (!succeeded.ok()) return database_error(db, impl_->path, "reading the history");
  succeeded.bind(1, to_unix(*since));
  while ((step = succeeded.step()) == SQLITE_ROW) {
    const auto when = from_unix(succeeded.integer(1));
    aggregator.remember_before_since(succeeded.text(0), when, true, when, succeeded.text(2));
  }
  if (step != SQLITE_DONE) return database_error(db, impl_->path, "reading the history");
  return true;
}

Result<InventoryChanges> HistoryDatabase::changes_since_last_run(InventoryResult& result) {
  sqlite3* db = impl_->db.get();
  InventoryChanges changes;
  Statement last(db, "SELECT id, started FROM runs ORDER BY id DESC LIMIT 1");
  if (!last.ok()) return database_error(db, impl_->path, "reading the last run");
  const int step = last.step();
  if (step == SQLITE_DONE) return changes;
  if (step != SQLITE_ROW) return database_error(db, impl_->path, "reading the last run");
  changes.have_previous_run = true;
  changes.previous_run_time = last.text(1);
  const bool every_sender_listed = result.coverage.lists_every_sender();
  // A sender that sends with OAuth is in no sign-in log: only the usage or
  // EAC report shows it gone.
  const bool oauth_senders_listed = result.coverage.lists_oauth_senders();
  struct Previous {
    std::string user, verdict;
    bool active = false, matched = false;
  };
  std::map<std::string, Previous> previous;
  Statement verdicts(db, "SELECT user_key, user, verdict, active FROM verdicts WHERE run_id = ?1");
  if (!verdicts.ok()) return database_error(db, impl_->path, "reading the last run's verdicts");
  verdicts.bind(1, last.integer(0));
  int row;
  while ((row = verdicts.step()) == SQLITE_ROW)
    previous[verdicts.text(0)] = {verdicts.text(1), verdicts.text(2), verdicts.integer(3) != 0};
  if (row != SQLITE_DONE) return database_error(db, impl_->path, "reading the last run's verdicts");
  for (auto& sender : result.senders) {
    const auto found = previous.find(to_lower(sender.user));
    const std::string now(to_string(sender.verdict));
    if (found == previous.end()) {
      if (sender.verdict != Verdict::exposed_unused) changes.new_senders.push_back(sender.user);
      continue;
    }
    found->second.matched = true;
    sender.previous_verdict = found->second.verdict;
    if (found->second.verdict != now) changes.verdict_changes.emplace_back(sender.user, found->second.verdict, now);
    if (found->second.active && !sender.active_this_run)
      // Quiet only where this run's inputs would have shown it: every sender
      // listed, over a period that begins after its last sign-in.
      (every_sender_listed && sender.last_seen && result.inputs_from && *sender.last_seen < *result.inputs_from &&
               (oauth_senders_listed || (sender.auth != AuthEvidence::oauth && found->second.verdict != "oauth"))
           ? changes.gone_quiet
           : changes.not_in_inputs)
          .push_back(sender.user);
  }
  for (const auto& [key, entry] : previous)
    if (!entry.matched && entry.active)
      (every_sender_listed && (oauth_senders_listed || entry.verdict != "oauth") ? changes.gone_quiet : changes.not_in_inputs)
          .push_back(entry.user);
  changes.settings_missing = !changes.verdict_changes.empty() && (!result.org_known || !result.mailboxes_known);
  return changes;
}

Result<bool> HistoryDatabase::record_run(const InventoryResult& result, const std::string& started,
                                         const std::function<void()>& in_transaction) {
  sqlite3* db = impl_->db.get();
  const auto& path = impl_->path;
  Transaction transaction(db, path);
  if (auto begun = transaction.begin(); !begun) return begun.error();
  Statement run(db, "INSERT INTO runs(started, today) VALUES(?1, ?2)");
  if (!run.ok()) return database_error(db, path, "recording the run");
  run.bind(1, started).bind(2, format_date(result.today));
  if (run.step() != SQLITE_DONE) return database_error(db, path, "recording the run");
  const auto run_id = sqlite3_last_insert_rowid(db);

  // Adds this run's new sign-ins to what is stored (another run may have
  // added its own meanwhile), and widens the first/last seen.
  Statement activity(db,
                     "INSERT INTO activity(user_key, user, ip, first_seen, last_seen, last_success, signins, successes, "
                     "failures) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
                     "ON CONFLICT(user_key, ip) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen), "
                     "last_seen = max(last_seen, excluded.last_seen), last_success = max(last_success, "
                     "excluded.last_success), signins = signins + excluded.signins, successes = successes + "
                     "excluded.successes, failures = failures + excluded.failures");
  Statement error_code(db,
                       "INSERT INTO activity_errors(user_key, ip, code, failures) VALUES(?1, ?2, ?3, ?4) "
                       "ON CONFLICT(user_key, ip, code) DO UPDATE SET failures = failures + excluded.failures");
  Statement verdict(db, "INSERT INTO verdicts(run_id, user_key, user, verdict, active) VALUES(?1, ?2, ?3, ?4, ?5)");
  Statement watermark(db,
                      "INSERT INTO watermarks(user_key, ip, log, last_seen) VALUES(?1, ?2, ?3, ?4) "
                      "ON CONFLICT(user_key, ip, log) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)");
  if (!watermark.ok()) return database_error(db, path, "preparing the history");
  // This run's report rows replace what an earlier run read.
  Statement reported(db,
                     "INSERT OR REPLACE INTO reported(user_key, user, report, read_on, protocol, messages, tls10, tls11, tls12, "
                     "last_activity_date, report_period) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
  if (!activity.ok() || !error_code.ok() || !verdict.ok() || !reported.ok())
    return database_error(db, path, "preparing the history");
  const std::string today = format_date(result.today);
  bool hook_called = false;
  for (const auto& sender : result.senders) {
    for (const auto& ip : sender.ips) {
      if (!ip.rows_this_run) continue;
      // Only the new sign-ins are added; the stored ones are already there.
      activity.bind(1, to_lower(sender.user)).bind(2, sender.user).bind(3, ip.ip);
      activity.bind(4, to_unix(ip.first_seen)).bind(5, to_unix(ip.last_seen)).bind(6, to_unix(ip.last_success));
      activity.bind(7, static_cast<std::int64_t>(ip.new_signins));
      activity.bind(8, static_cast<std::int64_t>(ip.new_successes));
      activity.bind(9, static_cast<std::int64_t>(ip.new_signins - ip.new_successes));
      if (activity.step() != SQLITE_DONE) return database_error(db, path, "recording activity");
      activity.reset();
      for (const auto& [log, last_seen] : ip.last_seen_by_log) {
        watermark.bind(1, to_lower(sender.user)).bind(2, ip.ip).bind(3, log_name(log)).bind(4, to_unix(last_seen));
        if (watermark.step() != SQLITE_DONE) return database_error(db, path, "recording watermarks");
        watermark.reset();
      }
      for (const auto& [code, count] : ip.new_error_codes) {
        error_code.bind(1, to_lower(sender.user)).bind(2, ip.ip).bind(3, code).bind(4, static_cast<std::int64_t>(count));
        if (error_code.step() != SQLITE_DONE) return database_error(db, path, "recording error codes");
        error_code.reset();
      }
    }
    if (sender.smtp_auth_report && !sender.smtp_auth_report_read_on) {
      const auto& row = *sender.smtp_auth_report;
      reported.bind(1, to_lower(sender.user)).bind(2, sender.user).bind(3, "smtp-auth-report").bind(4, today);
      if (row.authentication_protocol) reported.bind(5, *row.authentication_protocol);
      reported.bind(6, row.messages).bind(7, row.tls10_percent).bind(8, row.tls11_percent).bind(9, row.tls12_percent);
      reported.bind(10, "").bind(11, "");
      if (reported.step() != SQLITE_DONE) return database_error(db, path, "recording report senders");
      reported.reset();
    }
    if (sender.usage && !sender.usage_read_on) {
      reported.bind(1, to_lower(sender.user)).bind(2, sender.user).bind(3, "usage").bind(4, today);
      reported.bind(6, std::int64_t{0}).bind(7, 0.0).bind(8, 0.0).bind(9, 0.0);
      reported.bind(10, sender.usage->last_activity_date).bind(11, sender.usage->report_period);
      if (reported.step() != SQLITE_DONE) return database_error(db, path, "recording report senders");
      reported.reset();
    }
    verdict.bind(1, static_cast<std::int64_t>(run_id)).bind(2, to_lower(sender.user)).bind(3, sender.user);
    verdict.bind(4, to_string(sender.verdict)).bind(5, std::int64_t{sender.active_this_run ? 1 : 0});
    if (verdict.step() != SQLITE_DONE) return database_error(db, path, "recording verdicts");
    verdict.reset();
    if (!hook_called && in_transaction) {
      hook_called = true;
      in_transaction();
    }
  }
  if (!hook_called && in_transaction) in_transaction();
  return transaction.commit();
}

Result<std::int64_t> HistoryDatabase::run_count() {
  Statement count(impl_->db.get(), "SELECT count(*) FROM runs");
  if (!count.ok() || count.step() != SQLITE_ROW) return database_error(impl_->db.get(), impl_->path, "counting runs");
  return count.integer(0);
}

}  // namespace diag::inventory
