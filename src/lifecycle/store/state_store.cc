#include "lifecycle/store/state_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <initializer_list>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace osgv {
namespace {

// Bump when the schema changes, and teach Migrate() the step from the old
// version. A driver refuses files with a higher version rather than guess
// at columns it does not know.
//   1  the first schema
//   2  plan_json (SandboxRecord::plan_json), "" in the rows of version 1
constexpr int64_t kSchemaVersion = 2;

// Column order shared by INSERT, UPDATE and SELECT: BindRecord() binds
// parameter ?N to the Nth column and ReadRecord() reads column N-1, so the
// three statements cannot drift apart.
constexpr char kColumns[] =
    "id, name, namespace_name, workspace, runsc_id, image_ref, image_digest, "
    "phase, reason, message, exit_code, spec_json, created_at_ms, "
    "updated_at_ms, monitor_pid, generation, checkpoint_json, plan_json";

// STRICT so a type confusion is an error instead of silent coercion.
constexpr char kCreateTable[] = R"sql(
CREATE TABLE IF NOT EXISTS sandboxes (
  id             TEXT    NOT NULL PRIMARY KEY,
  name           TEXT    NOT NULL,
  namespace_name TEXT    NOT NULL,
  workspace      TEXT    NOT NULL,
  runsc_id       TEXT    NOT NULL,
  image_ref      TEXT    NOT NULL,
  image_digest   TEXT    NOT NULL,
  phase          TEXT    NOT NULL,
  reason         TEXT    NOT NULL,
  message        TEXT    NOT NULL,
  exit_code      INTEGER,
  spec_json      TEXT    NOT NULL,
  created_at_ms  INTEGER NOT NULL,
  updated_at_ms  INTEGER NOT NULL,
  monitor_pid    INTEGER NOT NULL,
  generation     INTEGER NOT NULL,
  checkpoint_json TEXT   NOT NULL,
  plan_json      TEXT    NOT NULL DEFAULT '',
  UNIQUE (workspace, name),
  UNIQUE (runsc_id)
) STRICT)sql";

// SQLite's own text of a (workspace, name) violation; the index columns are
// listed in declaration order, which is stable across SQLite releases.
constexpr absl::string_view kNameConstraint =
    "sandboxes.workspace, sandboxes.name";

absl::Status SqliteError(sqlite3* db, absl::string_view op) {
  return absl::InternalError(
      absl::StrCat("state store ", op, ": ", sqlite3_errmsg(db)));
}

absl::Status DuplicateId(const SandboxRecord& record) {
  return absl::AlreadyExistsError(absl::StrCat(
      "sandbox.id: a sandbox with id '", record.id, "' already exists"));
}

absl::Status DuplicateName(const SandboxRecord& record) {
  return absl::AlreadyExistsError(
      absl::StrCat("sandbox.name: a sandbox named '", record.name,
                   "' already exists in workspace '", record.workspace, "'"));
}

// Turns a failed write of `record` into a status. Uniqueness violations
// the caller can fix become ALREADY_EXISTS; a runsc_id clash is a driver
// bug (the id is generated), so it stays INTERNAL with SQLite's text.
absl::Status WriteError(sqlite3* db, const SandboxRecord& record,
                        absl::string_view op) {
  const int code = sqlite3_extended_errcode(db);
  if (code == SQLITE_CONSTRAINT_PRIMARYKEY) return DuplicateId(record);
  if (code == SQLITE_CONSTRAINT_UNIQUE &&
      absl::StrContains(sqlite3_errmsg(db), kNameConstraint)) {
    return DuplicateName(record);
  }
  return SqliteError(db, op);
}

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using DbHandle = std::unique_ptr<sqlite3, DbCloser>;

// One prepared statement, finalised on scope exit. `op` names the public
// operation in every error so a log line says what was being attempted.
class Statement {
 public:
  Statement(sqlite3* db, absl::string_view op) : db_(db), op_(op) {}
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  absl::Status Prepare(absl::string_view sql) {
    if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()),
                           &stmt_, nullptr) != SQLITE_OK) {
      return SqliteError(db_, op_);
    }
    return absl::OkStatus();
  }

  // Binds every value in `texts` to ?1, ?2, ... in order.
  absl::Status BindTexts(std::initializer_list<absl::string_view> texts) {
    int index = 1;
    for (absl::string_view text : texts) {
      if (sqlite3_bind_text(stmt_, index++, text.data(),
                            static_cast<int>(text.size()),
                            SQLITE_TRANSIENT) != SQLITE_OK) {
        return SqliteError(db_, op_);
      }
    }
    return absl::OkStatus();
  }

  // true: a row is ready to read; false: the statement finished.
  absl::StatusOr<bool> Step() {
    switch (sqlite3_step(stmt_)) {
      case SQLITE_ROW:
        return true;
      case SQLITE_DONE:
        return false;
      default:
        return SqliteError(db_, op_);
    }
  }

  // Runs to completion, discarding rows (PRAGMA setters echo one).
  absl::Status Drain() {
    for (;;) {
      absl::StatusOr<bool> row = Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::OkStatus();
    }
  }

  sqlite3_stmt* get() const { return stmt_; }
  sqlite3* db() const { return db_; }
  absl::string_view op() const { return op_; }

 private:
  sqlite3* db_;
  absl::string_view op_;
  sqlite3_stmt* stmt_ = nullptr;
};

// Runs one statement that takes no parameters (pragmas, DDL, BEGIN/COMMIT).
absl::Status Exec(sqlite3* db, absl::string_view sql, absl::string_view op) {
  Statement stmt(db, op);
  if (absl::Status s = stmt.Prepare(sql); !s.ok()) return s;
  return stmt.Drain();
}

// First column of the first row as text ("" when there is no row).
absl::StatusOr<std::string> QueryText(sqlite3* db, absl::string_view sql,
                                      absl::string_view op) {
  Statement stmt(db, op);
  if (absl::Status s = stmt.Prepare(sql); !s.ok()) return s;
  absl::StatusOr<bool> row = stmt.Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::string();
  const auto* text = sqlite3_column_text(stmt.get(), 0);
  return text == nullptr ? std::string()
                         : std::string(reinterpret_cast<const char*>(text));
}

// Whether `sql`, with `params` bound to ?1.., returns any row.
absl::StatusOr<bool> RowExists(sqlite3* db, absl::string_view sql,
                               std::initializer_list<absl::string_view> params,
                               absl::string_view op) {
  Statement stmt(db, op);
  if (absl::Status s = stmt.Prepare(sql); !s.ok()) return s;
  if (absl::Status s = stmt.BindTexts(params); !s.ok()) return s;
  return stmt.Step();
}

// Binds `record` to ?1..?18 in kColumns order.
absl::Status BindRecord(Statement& stmt, const SandboxRecord& r) {
  if (absl::Status s = stmt.BindTexts(
          {r.id, r.name, r.namespace_name, r.workspace, r.runsc_id,
           r.image_ref, r.image_digest, PhaseName(r.phase), r.reason, r.message});
      !s.ok()) {
    return s;
  }
  sqlite3_stmt* raw = stmt.get();
  const int rc[] = {
      r.exit_code ? sqlite3_bind_int64(raw, 11, *r.exit_code)
                  : sqlite3_bind_null(raw, 11),
      sqlite3_bind_text(raw, 12, r.spec_json.data(),
                        static_cast<int>(r.spec_json.size()), SQLITE_TRANSIENT),
      sqlite3_bind_int64(raw, 13, r.created_at_ms),
      sqlite3_bind_int64(raw, 14, r.updated_at_ms),
      sqlite3_bind_int64(raw, 15, r.monitor_pid),
      sqlite3_bind_int64(raw, 16, r.generation),
      sqlite3_bind_text(raw, 17, r.checkpoint_json.data(),
                        static_cast<int>(r.checkpoint_json.size()), SQLITE_TRANSIENT),
      sqlite3_bind_text(raw, 18, r.plan_json.data(),
                        static_cast<int>(r.plan_json.size()), SQLITE_TRANSIENT),
  };
  for (int code : rc) {
    if (code != SQLITE_OK) return SqliteError(stmt.db(), stmt.op());
  }
  return absl::OkStatus();
}

// Reads text by its byte length so embedded NULs survive the round trip.
std::string ColumnText(sqlite3_stmt* stmt, int column) {
  const auto* text = sqlite3_column_text(stmt, column);
  if (text == nullptr) return std::string();
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<size_t>(sqlite3_column_bytes(stmt, column)));
}

// Reads the current row of a `SELECT kColumns ...` statement.
SandboxRecord ReadRecord(sqlite3_stmt* stmt) {
  SandboxRecord r;
  r.id = ColumnText(stmt, 0);
  r.name = ColumnText(stmt, 1);
  r.namespace_name = ColumnText(stmt, 2);
  r.workspace = ColumnText(stmt, 3);
  r.runsc_id = ColumnText(stmt, 4);
  r.image_ref = ColumnText(stmt, 5);
  r.image_digest = ColumnText(stmt, 6);
  r.phase = PhaseOrUnknown(ColumnText(stmt, 7));
  r.reason = ColumnText(stmt, 8);
  r.message = ColumnText(stmt, 9);
  if (sqlite3_column_type(stmt, 10) != SQLITE_NULL) {
    r.exit_code = sqlite3_column_int(stmt, 10);
  }
  r.spec_json = ColumnText(stmt, 11);
  r.created_at_ms = sqlite3_column_int64(stmt, 12);
  r.updated_at_ms = sqlite3_column_int64(stmt, 13);
  r.monitor_pid = sqlite3_column_int64(stmt, 14);
  r.generation = sqlite3_column_int64(stmt, 15);
  r.checkpoint_json = ColumnText(stmt, 16);
  r.plan_json = ColumnText(stmt, 17);
  return r;
}

// BEGIN IMMEDIATE takes the write lock up front, so a read-then-write
// (Insert's duplicate checks) cannot be invalidated between its steps.
// Rolls back on scope exit unless committed.
class Transaction {
 public:
  Transaction(sqlite3* db, absl::string_view op) : db_(db), op_(op) {}
  ~Transaction() {
    // SQLite may already have rolled back after some errors; only roll
    // back a transaction that is still open.
    if (begun_ && !committed_ && !sqlite3_get_autocommit(db_)) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  absl::Status Begin() {
    absl::Status s = Exec(db_, "BEGIN IMMEDIATE", op_);
    begun_ = s.ok();
    return s;
  }

  absl::Status Commit() {
    absl::Status s = Exec(db_, "COMMIT", op_);
    committed_ = s.ok();
    return s;
  }

 private:
  sqlite3* db_;
  absl::string_view op_;
  bool begun_ = false;
  bool committed_ = false;
};

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  return absl::ErrnoToStatus(
      errno, absl::StrCat("state store open: ", what, " ", path));
}

// Creates the database file 0600 before SQLite sees it, and tightens an
// existing one. SQLite gives the -wal and -shm files the database file's
// mode, so this covers them without touching the process-wide umask
// (which other threads may be relying on while we open).
absl::Status PrepareFile(const std::string& path) {
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("cannot create", path);
  const bool ok = fchmod(fd, 0600) == 0;
  const int saved = errno;
  close(fd);
  errno = saved;
  if (!ok) return ErrnoError("cannot chmod 0600", path);
  // Companions left by an earlier run keep their old mode; tighten them.
  for (const char* suffix : {"-wal", "-shm"}) {
    const std::string companion = path + suffix;
    if (chmod(companion.c_str(), 0600) != 0 && errno != ENOENT) {
      return ErrnoError("cannot chmod 0600", companion);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> SchemaVersion(sqlite3* db) {
  absl::StatusOr<std::string> text =
      QueryText(db, "PRAGMA user_version", "read schema version");
  if (!text.ok()) return text.status();
  int64_t version = 0;
  if (!absl::SimpleAtoi(*text, &version)) {
    return absl::InternalError(
        absl::StrCat("state store read schema version: got '", *text, "'"));
  }
  return version;
}

// Durability settings. journal_mode is checked because SQLite answers with
// the mode it actually chose (e.g. "memory" or "delete" where WAL cannot
// work) instead of failing.
absl::Status Configure(sqlite3* db) {
  absl::StatusOr<std::string> mode =
      QueryText(db, "PRAGMA journal_mode=WAL", "set journal_mode");
  if (!mode.ok()) return mode.status();
  if (*mode != "wal") {
    return absl::InternalError(absl::StrCat(
        "state store set journal_mode: wanted 'wal', SQLite chose '", *mode,
        "'"));
  }
  if (absl::Status s = Exec(db, "PRAGMA synchronous=FULL", "set synchronous");
      !s.ok()) {
    return s;
  }
  return Exec(db, "PRAGMA foreign_keys=ON", "set foreign_keys");
}

// Brings a file to kSchemaVersion in one transaction, so a crash mid-way
// leaves either the old schema or the whole of the new one: version 0 (a
// new file) gets the table, version 1 the column version 2 added.
absl::Status Migrate(sqlite3* db, int64_t version) {
  if (version == kSchemaVersion) return absl::OkStatus();
  const absl::string_view op = version == 0 ? "create schema" : "upgrade schema";
  Transaction txn(db, op);
  if (absl::Status s = txn.Begin(); !s.ok()) return s;
  const char* step = version == 0
                         ? kCreateTable
                         : "ALTER TABLE sandboxes ADD COLUMN plan_json TEXT NOT NULL DEFAULT ''";
  if (absl::Status s = Exec(db, step, op); !s.ok()) return s;
  // PRAGMA takes no bound parameters; the value is our own constant.
  if (absl::Status s = Exec(
          db, absl::StrCat("PRAGMA user_version=", kSchemaVersion), op);
      !s.ok()) {
    return s;
  }
  return txn.Commit();
}

}  // namespace

absl::StatusOr<std::unique_ptr<StateStore>> StateStore::Open(
    const std::string& path) {
  if (absl::Status s = PrepareFile(path); !s.ok()) return s;

  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(
      path.c_str(), &raw,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
      nullptr);
  DbHandle db(raw);  // closes on every early return, even a failed open
  if (rc != SQLITE_OK) {
    return absl::InternalError(absl::StrCat(
        "state store open ", path, ": ",
        db ? sqlite3_errmsg(db.get()) : sqlite3_errstr(rc)));
  }
  // Extended codes tell a primary-key clash from a UNIQUE one.
  sqlite3_extended_result_codes(db.get(), 1);

  if (absl::Status s =
          Exec(db.get(), "PRAGMA busy_timeout=5000", "set busy_timeout");
      !s.ok()) {
    return s;
  }
  // Check the version before Configure() so a newer driver's file is left
  // exactly as we found it (switching to WAL rewrites the header).
  absl::StatusOr<int64_t> version = SchemaVersion(db.get());
  if (!version.ok()) return version.status();
  if (*version > kSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "state store schema version ", *version,
        " is newer than this driver supports (", kSchemaVersion,
        "); upgrade the driver"));
  }
  if (absl::Status s = Configure(db.get()); !s.ok()) return s;
  if (absl::Status s = Migrate(db.get(), *version); !s.ok()) return s;
  return std::unique_ptr<StateStore>(new StateStore(db.release()));
}

StateStore::StateStore(sqlite3* db) : db_(db) {}

StateStore::~StateStore() { sqlite3_close_v2(db_); }

absl::Status StateStore::Insert(const SandboxRecord& record) {
  constexpr absl::string_view op = "insert";
  std::lock_guard<std::mutex> lock(mu_);
  Transaction txn(db_, op);
  if (absl::Status s = txn.Begin(); !s.ok()) return s;

  // Checked first so the error names the field the caller got wrong; the
  // UNIQUE constraints below remain the real guarantee.
  absl::StatusOr<bool> id_taken =
      RowExists(db_, "SELECT 1 FROM sandboxes WHERE id = ?1", {record.id}, op);
  if (!id_taken.ok()) return id_taken.status();
  if (*id_taken) return DuplicateId(record);
  absl::StatusOr<bool> name_taken = RowExists(
      db_, "SELECT 1 FROM sandboxes WHERE workspace = ?1 AND name = ?2",
      {record.workspace, record.name}, op);
  if (!name_taken.ok()) return name_taken.status();
  if (*name_taken) return DuplicateName(record);

  Statement stmt(db_, op);
  if (absl::Status s = stmt.Prepare(absl::StrCat(
          "INSERT INTO sandboxes (", kColumns,
          ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
          "?14, ?15, ?16, ?17, ?18)"));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = BindRecord(stmt, record); !s.ok()) return s;
  if (!stmt.Step().ok()) return WriteError(db_, record, op);
  return txn.Commit();
}

absl::Status StateStore::Update(const SandboxRecord& record, Durability durability) {
  constexpr absl::string_view op = "update";
  std::lock_guard<std::mutex> lock(mu_);
  if (durability == Durability::kProcessCrash) {
    // WAL + NORMAL: the commit is in the WAL file (the OS has it) but not
    // fsynced; the next FULL commit syncs it along with its own.
    if (absl::Status s = Exec(db_, "PRAGMA synchronous=NORMAL", op); !s.ok()) return s;
  }
  absl::Status result = UpdateLocked(record);
  if (durability == Durability::kProcessCrash) {
    if (absl::Status s = Exec(db_, "PRAGMA synchronous=FULL", op); !s.ok() && result.ok()) {
      result = s;
    }
  }
  return result;
}

absl::Status StateStore::UpdateLocked(const SandboxRecord& record) {
  constexpr absl::string_view op = "update";
  Statement stmt(db_, op);
  if (absl::Status s = stmt.Prepare(
          "UPDATE sandboxes SET name = ?2, namespace_name = ?3, "
          "workspace = ?4, runsc_id = ?5, image_ref = ?6, image_digest = ?7, "
          "phase = ?8, reason = ?9, message = ?10, exit_code = ?11, "
          "spec_json = ?12, created_at_ms = ?13, updated_at_ms = ?14, "
          "monitor_pid = ?15, generation = ?16, checkpoint_json = ?17, plan_json = ?18 "
          "WHERE id = ?1");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = BindRecord(stmt, record); !s.ok()) return s;
  if (!stmt.Step().ok()) return WriteError(db_, record, op);
  // Read under the mutex, so the count is this statement's own.
  if (sqlite3_changes(db_) == 0) {
    return absl::NotFoundError(
        absl::StrCat("sandbox.id: no sandbox with id '", record.id, "'"));
  }
  return absl::OkStatus();
}

absl::Status StateStore::Delete(const std::string& id) {
  constexpr absl::string_view op = "delete";
  std::lock_guard<std::mutex> lock(mu_);
  Statement stmt(db_, op);
  if (absl::Status s = stmt.Prepare("DELETE FROM sandboxes WHERE id = ?1");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = stmt.BindTexts({id}); !s.ok()) return s;
  return stmt.Drain();
}

absl::StatusOr<std::optional<SandboxRecord>> StateStore::Get(
    const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  Statement stmt(db_, "get");
  if (absl::Status s = stmt.Prepare(
          absl::StrCat("SELECT ", kColumns, " FROM sandboxes WHERE id = ?1"));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = stmt.BindTexts({id}); !s.ok()) return s;
  absl::StatusOr<bool> row = stmt.Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<SandboxRecord>();
  return std::optional<SandboxRecord>(ReadRecord(stmt.get()));
}

absl::StatusOr<std::vector<SandboxRecord>> StateStore::List() {
  std::lock_guard<std::mutex> lock(mu_);
  Statement stmt(db_, "list");
  if (absl::Status s = stmt.Prepare(absl::StrCat(
          "SELECT ", kColumns, " FROM sandboxes ORDER BY created_at_ms, id"));
      !s.ok()) {
    return s;
  }
  std::vector<SandboxRecord> records;
  for (;;) {
    absl::StatusOr<bool> row = stmt.Step();
    if (!row.ok()) return row.status();
    if (!*row) return records;
    records.push_back(ReadRecord(stmt.get()));
  }
}

}  // namespace osgv
