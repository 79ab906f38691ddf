#include "temp_dir.h"
#include "lifecycle/store/state_store.h"

#include <signal.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <functional>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace Catch {
// Field-by-field output, so a failed comparison says which field differs.
template <>
struct StringMaker<osgv::SandboxRecord> {
  static std::string convert(const osgv::SandboxRecord& r) {
    std::ostringstream out;
    out << "{id=" << r.id << " name=" << r.name
        << " namespace=" << r.namespace_name << " workspace=" << r.workspace
        << " runsc_id=" << r.runsc_id << " image_ref=" << r.image_ref
        << " image_digest=" << r.image_digest << " phase=" << osgv::PhaseName(r.phase)
        << " reason=" << r.reason << " message=" << r.message << " exit_code="
        << (r.exit_code ? std::to_string(*r.exit_code) : "unset")
        << " spec_json=" << r.spec_json << " created=" << r.created_at_ms
        << " updated=" << r.updated_at_ms << " monitor_pid=" << r.monitor_pid
        << " generation=" << r.generation << "}";
    return out.str();
  }
};
}  // namespace Catch

namespace osgv {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// A fresh directory per test, removed afterwards.
// Every field set to something distinctive, `n` keeping records apart.
SandboxRecord MakeRecord(int n) {
  const std::string tag = std::to_string(n);
  SandboxRecord r;
  r.id = "sb-" + tag;
  r.name = "name-" + tag;
  r.namespace_name = "ns-" + tag;
  r.workspace = "ws-" + tag;
  r.runsc_id = "osgv-" + tag + std::string(32 - tag.size(), 'a');
  r.image_ref = "oci:/images/base:" + tag;
  r.image_digest = "sha256:" + std::string(64, 'c');
  r.phase = phase::kRunning;
  r.reason = "Started";
  r.message = "message " + tag;
  r.exit_code = 137;
  r.spec_json = R"({"template":{"image":"base"},"n":)" + tag + "}";
  r.created_at_ms = 1'700'000'000'000 + n;
  r.updated_at_ms = 1'700'000'000'500 + n;
  r.monitor_pid = 4'000'000 + n;
  r.generation = 5'000'000'000LL + n;  // beyond 32 bits
  r.checkpoint_json = R"({"dir":"image-)" + tag + R"("})";
  r.plan_json = R"({"version":1,"image":"base-)" + tag + R"("})";
  return r;
}

std::unique_ptr<StateStore> OpenStore(const std::string& path) {
  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(path);
  INFO(store.status().ToString());
  REQUIRE(store.ok());
  return std::move(*store);
}

SandboxRecord GetExisting(StateStore& store, const std::string& id) {
  absl::StatusOr<std::optional<SandboxRecord>> got = store.Get(id);
  INFO(got.status().ToString());
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  return **got;
}

void RequireOk(const absl::Status& status) {
  INFO(status.ToString());
  REQUIRE(status.ok());
}

// Queries through an independent connection, as another process would.
std::string RawQuery(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) ==
          SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK);
  std::string result;
  if (sqlite3_step(stmt) == SQLITE_ROW) {
    result = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close_v2(db);
  return result;
}

mode_t FileMode(const std::string& path) {
  struct stat st {};
  REQUIRE(stat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

TEST_CASE("state store round-trips every field", "[state_store]") {
  TempDir dir;
  auto store = OpenStore(dir / "state.db");

  SandboxRecord with_exit = MakeRecord(1);
  with_exit.exit_code = -9;
  // Text that would break naive SQL, non-ASCII, and an embedded NUL.
  with_exit.message = std::string("it's \"quoted\"; DROP TABLE sandboxes;--") +
                      " \xc3\xa9\xe2\x9c\x93 " + std::string("a\0b", 3);
  SandboxRecord without_exit = MakeRecord(2);
  without_exit.exit_code.reset();
  without_exit.image_digest = "";
  without_exit.monitor_pid = 0;
  SandboxRecord exit_zero = MakeRecord(3);
  exit_zero.exit_code = 0;

  for (const SandboxRecord& r : {with_exit, without_exit, exit_zero}) {
    RequireOk(store->Insert(r));
  }
  CHECK(GetExisting(*store, with_exit.id) == with_exit);
  CHECK(GetExisting(*store, without_exit.id) == without_exit);
  CHECK_FALSE(GetExisting(*store, without_exit.id).exit_code.has_value());
  CHECK(GetExisting(*store, exit_zero.id) == exit_zero);

  absl::StatusOr<std::vector<SandboxRecord>> all = store->List();
  REQUIRE(all.ok());
  CHECK(*all == std::vector<SandboxRecord>{with_exit, without_exit, exit_zero});
}

TEST_CASE("state store Get of an unknown id is empty", "[state_store]") {
  TempDir dir;
  auto store = OpenStore(dir / "state.db");
  absl::StatusOr<std::optional<SandboxRecord>> got = store->Get("nope");
  REQUIRE(got.ok());
  CHECK_FALSE(got->has_value());
  absl::StatusOr<std::vector<SandboxRecord>> all = store->List();
  REQUIRE(all.ok());
  CHECK(all->empty());
}

TEST_CASE("state store rejects duplicates precisely", "[state_store]") {
  TempDir dir;
  auto store = OpenStore(dir / "state.db");
  const SandboxRecord original = MakeRecord(1);
  RequireOk(store->Insert(original));

  SECTION("same id") {
    SandboxRecord dup = MakeRecord(2);
    dup.id = original.id;
    absl::Status s = store->Insert(dup);
    CHECK(s.code() == absl::StatusCode::kAlreadyExists);
    CHECK(s.message() == "sandbox.id: a sandbox with id 'sb-1' already exists");
  }
  SECTION("same workspace and name") {
    SandboxRecord dup = MakeRecord(2);
    dup.workspace = original.workspace;
    dup.name = original.name;
    absl::Status s = store->Insert(dup);
    CHECK(s.code() == absl::StatusCode::kAlreadyExists);
    CHECK(s.message() ==
          "sandbox.name: a sandbox named 'name-1' already exists in "
          "workspace 'ws-1'");
  }
  // A rejected insert leaves the store as it was.
  CHECK(GetExisting(*store, original.id) == original);
  absl::StatusOr<std::vector<SandboxRecord>> all = store->List();
  REQUIRE(all.ok());
  CHECK(all->size() == 1);
}

TEST_CASE("state store allows one name in different workspaces",
          "[state_store]") {
  TempDir dir;
  auto store = OpenStore(dir / "state.db");
  SandboxRecord a = MakeRecord(1);
  SandboxRecord b = MakeRecord(2);
  b.name = a.name;
  REQUIRE(a.workspace != b.workspace);
  RequireOk(store->Insert(a));
  RequireOk(store->Insert(b));
  CHECK(GetExisting(*store, b.id) == b);
}

TEST_CASE("state store runsc_id clash is an internal error", "[state_store]") {
  // The runsc id is generated by the driver, so a clash is our bug, not
  // something to report to the gateway as ALREADY_EXISTS.
  TempDir dir;
  auto store = OpenStore(dir / "state.db");
  SandboxRecord a = MakeRecord(1);
  SandboxRecord b = MakeRecord(2);
  b.runsc_id = a.runsc_id;
  RequireOk(store->Insert(a));
  absl::Status s = store->Insert(b);
  CHECK(s.code() == absl::StatusCode::kInternal);
  CHECK_THAT(std::string(s.message()),
             Catch::Contains("insert") && Catch::Contains("runsc_id"));
  // The failed insert rolled back: the store still works.
  b.runsc_id = "osgv-" + std::string(32, 'f');
  RequireOk(store->Insert(b));
}

TEST_CASE("state store Update replaces the record", "[state_store]") {
  TempDir dir;
  auto store = OpenStore(dir / "state.db");
  const SandboxRecord original = MakeRecord(1);
  RequireOk(store->Insert(original));

  SECTION("every field, generation stored as given") {
    SandboxRecord changed = MakeRecord(7);
    changed.id = original.id;
    changed.exit_code.reset();
    changed.generation = original.generation + 1;
    RequireOk(store->Update(changed));
    CHECK(GetExisting(*store, original.id) == changed);
  }
  SECTION("unknown id is NOT_FOUND") {
    SandboxRecord ghost = MakeRecord(2);
    absl::Status s = store->Update(ghost);
    CHECK(s.code() == absl::StatusCode::kNotFound);
    CHECK_THAT(std::string(s.message()), Catch::Contains("sb-2"));
    CHECK_FALSE(store->Get(ghost.id)->has_value());
  }
  SECTION("renaming onto another sandbox's name is ALREADY_EXISTS") {
    const SandboxRecord other = MakeRecord(2);
    RequireOk(store->Insert(other));
    SandboxRecord renamed = original;
    renamed.workspace = other.workspace;
    renamed.name = other.name;
    absl::Status s = store->Update(renamed);
    CHECK(s.code() == absl::StatusCode::kAlreadyExists);
    CHECK(s.message() ==
          "sandbox.name: a sandbox named 'name-2' already exists in "
          "workspace 'ws-2'");
    CHECK(GetExisting(*store, original.id) == original);
  }
}

TEST_CASE("state store Delete is idempotent", "[state_store]") {
  TempDir dir;
  auto store = OpenStore(dir / "state.db");
  const SandboxRecord r = MakeRecord(1);
  RequireOk(store->Insert(r));
  RequireOk(store->Delete(r.id));
  RequireOk(store->Delete(r.id));
  RequireOk(store->Delete("never-existed"));
  CHECK_FALSE(store->Get(r.id)->has_value());
  // The id and name are free again.
  RequireOk(store->Insert(r));
}

TEST_CASE("state store List orders by creation time, then id",
          "[state_store]") {
  TempDir dir;
  auto store = OpenStore(dir / "state.db");
  SandboxRecord late = MakeRecord(1);
  late.created_at_ms = 300;
  SandboxRecord tie_b = MakeRecord(2);
  tie_b.id = "b";
  tie_b.created_at_ms = 100;
  SandboxRecord tie_a = MakeRecord(3);
  tie_a.id = "a";
  tie_a.created_at_ms = 100;
  SandboxRecord middle = MakeRecord(4);
  middle.created_at_ms = 200;
  for (const SandboxRecord& r : {late, tie_b, middle, tie_a}) {
    RequireOk(store->Insert(r));
  }
  absl::StatusOr<std::vector<SandboxRecord>> all = store->List();
  REQUIRE(all.ok());
  std::vector<std::string> ids;
  for (const SandboxRecord& r : *all) ids.push_back(r.id);
  CHECK(ids == std::vector<std::string>{"a", "b", middle.id, late.id});
}

TEST_CASE("state store survives closing and reopening", "[state_store]") {
  TempDir dir;
  const std::string path = dir / "state.db";
  std::vector<SandboxRecord> written;
  {
    auto store = OpenStore(path);
    for (int n = 1; n <= 5; ++n) {
      written.push_back(MakeRecord(n));
      RequireOk(store->Insert(written.back()));
    }
    written[2].phase = phase::kExited;
    written[2].generation += 1;
    RequireOk(store->Update(written[2]));
    RequireOk(store->Delete(written[4].id));
    written.pop_back();
  }
  auto reopened = OpenStore(path);
  absl::StatusOr<std::vector<SandboxRecord>> all = reopened->List();
  REQUIRE(all.ok());
  CHECK(*all == written);
}

TEST_CASE("state store runs in WAL mode", "[state_store]") {
  TempDir dir;
  const std::string path = dir / "state.db";
  auto store = OpenStore(path);
  RequireOk(store->Insert(MakeRecord(1)));
  // journal_mode=WAL is persistent in the file, so a second connection
  // sees it; the schema version is recorded too.
  CHECK(RawQuery(path, "PRAGMA journal_mode") == "wal");
  CHECK(RawQuery(path, "PRAGMA user_version") == "2");
  CHECK(fs::exists(path + "-wal"));
}

TEST_CASE("state store files are private to the owner", "[state_store]") {
  TempDir dir;
  const std::string path = dir / "state.db";
  // The usual umask, which on its own would leave SQLite's files 0644.
  struct UmaskGuard {
    mode_t old = umask(022);
    ~UmaskGuard() { umask(old); }
  } umask_guard;

  SECTION("a new file") {
    auto store = OpenStore(path);
    RequireOk(store->Insert(MakeRecord(1)));
    CHECK(FileMode(path) == 0600);
    CHECK(FileMode(path + "-wal") == 0600);
    CHECK(FileMode(path + "-shm") == 0600);
  }
  SECTION("an existing file that was too open") {
    { auto store = OpenStore(path); }
    REQUIRE(chmod(path.c_str(), 0644) == 0);
    auto store = OpenStore(path);
    CHECK(FileMode(path) == 0600);
  }
}

TEST_CASE("state store refuses a newer schema", "[state_store]") {
  TempDir dir;
  const std::string path = dir / "state.db";
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "PRAGMA user_version=3", nullptr, nullptr,
                         nullptr) == SQLITE_OK);
    sqlite3_close_v2(db);
  }
  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(path);
  REQUIRE_FALSE(store.ok());
  CHECK(store.status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK(store.status().message() ==
        "state store schema version 3 is newer than this driver supports (2); "
        "upgrade the driver");
  // The newer driver's file is left as it was.
  CHECK(RawQuery(path, "PRAGMA journal_mode") == "delete");
  CHECK(RawQuery(path, "PRAGMA user_version") == "3");
}

TEST_CASE("state store upgrades a schema 1 file: its records read with no plan",
          "[state_store]") {
  TempDir dir;
  const std::string path = dir / "state.db";
  {
    // The schema 1 table, exactly as the first driver created it.
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    const char* v1 = R"sql(
      CREATE TABLE sandboxes (
        id TEXT NOT NULL PRIMARY KEY, name TEXT NOT NULL, namespace_name TEXT NOT NULL,
        workspace TEXT NOT NULL, runsc_id TEXT NOT NULL, image_ref TEXT NOT NULL,
        image_digest TEXT NOT NULL, phase TEXT NOT NULL, reason TEXT NOT NULL,
        message TEXT NOT NULL, exit_code INTEGER, spec_json TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL,
        monitor_pid INTEGER NOT NULL, generation INTEGER NOT NULL,
        checkpoint_json TEXT NOT NULL,
        UNIQUE (workspace, name), UNIQUE (runsc_id)) STRICT;
      INSERT INTO sandboxes VALUES ('sb-1', 'alpha', '', 'dev', 'osgv-1', 'img', '',
        'stopped', '', '', NULL, '{}', 1, 2, 0, 7, '');
      PRAGMA user_version=1;)sql";
    REQUIRE(sqlite3_exec(db, v1, nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close_v2(db);
  }
  {
    auto store = OpenStore(path);
    absl::StatusOr<std::optional<SandboxRecord>> r = store->Get("sb-1");
    RequireOk(r.status());
    REQUIRE(r->has_value());
    CHECK((*r)->name == "alpha");
    CHECK((*r)->generation == 7);
    CHECK((*r)->plan_json.empty());
    SandboxRecord planned = **r;
    planned.plan_json = R"({"version":1})";
    planned.generation += 1;
    RequireOk(store->Update(planned));
  }
  CHECK(RawQuery(path, "PRAGMA user_version") == "2");
  auto reopened = OpenStore(path);
  absl::StatusOr<std::optional<SandboxRecord>> r = reopened->Get("sb-1");
  RequireOk(r.status());
  REQUIRE(r->has_value());
  CHECK((*r)->plan_json == R"({"version":1})");
}

TEST_CASE("state store rejects a file that is not a database",
          "[state_store]") {
  TempDir dir;
  const std::string path = dir / "state.db";
  std::ofstream(path) << std::string(4096, 'x');
  absl::StatusOr<std::unique_ptr<StateStore>> store = StateStore::Open(path);
  REQUIRE_FALSE(store.ok());
  CHECK(store.status().code() == absl::StatusCode::kInternal);
  CHECK_THAT(std::string(store.status().message()),
             Catch::Contains("not a database"));
}

// The child opens its own store (an SQLite connection must not cross a
// fork), makes its write, tells the parent the call returned, then dies
// the given way without closing anything.
void WriteInChildThenDie(const std::string& path,
                         const std::function<absl::Status(StateStore&)>& write, bool sigkill) {
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(ready[0]);
    auto store = StateStore::Open(path);
    if (!store.ok() || !write(**store).ok()) _exit(1);
    if (::write(ready[1], "k", 1) != 1) _exit(2);
    if (sigkill) pause();  // wait for the parent's SIGKILL
    _exit(0);             // no destructors: the db is never closed
  }
  close(ready[1]);
  char byte = 0;
  const bool inserted = read(ready[0], &byte, 1) == 1;
  close(ready[0]);
  if (sigkill) kill(pid, SIGKILL);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(inserted);
  if (sigkill) {
    REQUIRE(WIFSIGNALED(status));
  } else {
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
  }
}

TEST_CASE("state store keeps a write whose process died right after",
          "[state_store]") {
  TempDir dir;
  const std::string path = dir / "state.db";
  { auto store = OpenStore(path); }  // schema exists before the crash
  const SandboxRecord r = MakeRecord(1);

  auto insert = [&r](StateStore& store) { return store.Insert(r); };
  SECTION("_exit") { WriteInChildThenDie(path, insert, /*sigkill=*/false); }
  SECTION("SIGKILL") { WriteInChildThenDie(path, insert, /*sigkill=*/true); }

  // Nothing checkpointed the write: it lives only in the WAL, which the
  // reopening connection must recover.
  REQUIRE(fs::exists(path + "-wal"));
  CHECK(fs::file_size(path + "-wal") > 0);
  auto store = OpenStore(path);
  CHECK(GetExisting(*store, r.id) == r);
}

TEST_CASE("state store keeps an intent update whose process was killed right after",
          "[state_store]") {
  TempDir dir;
  const std::string path = dir / "state.db";
  SandboxRecord r = MakeRecord(1);
  { RequireOk(OpenStore(path)->Insert(r)); }
  r.phase = phase::kStopping;
  r.generation += 1;
  WriteInChildThenDie(
      path,
      [&r](StateStore& store) { return store.Update(r, StateStore::Durability::kProcessCrash); },
      /*sigkill=*/true);

  auto store = OpenStore(path);
  CHECK(GetExisting(*store, r.id) == r);
  // The connection went back to full durability for what follows.
  r.phase = phase::kStopped;
  r.generation += 1;
  RequireOk(store->Update(r, StateStore::Durability::kProcessCrash));
  r.phase = phase::kRunning;
  r.generation += 1;
  RequireOk(store->Update(r));
  CHECK(GetExisting(*store, r.id) == r);
}

TEST_CASE("state store serves several threads at once", "[state_store]") {
  TempDir dir;
  auto store = OpenStore(dir / "state.db");
  constexpr int kThreads = 4;
  constexpr int kPerThread = 25;
  std::vector<std::thread> threads;
  std::vector<int> failures(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        SandboxRecord r = MakeRecord(t * kPerThread + i);
        r.generation = 0;
        if (!store->Insert(r).ok()) ++failures[t];
        r.generation = 1;
        if (!store->Update(r).ok()) ++failures[t];
        if (!store->List().ok()) ++failures[t];
      }
    });
  }
  for (std::thread& th : threads) th.join();
  CHECK(failures == std::vector<int>(kThreads, 0));
  absl::StatusOr<std::vector<SandboxRecord>> all = store->List();
  REQUIRE(all.ok());
  CHECK(all->size() == kThreads * kPerThread);
}

// The phase column keeps the text earlier drivers wrote: a state dir they
// left loads phase by phase, and what this driver writes reads the same.
TEST_CASE("state store reads and writes the phase spellings of earlier drivers",
          "[state_store]") {
  const std::vector<std::pair<std::string, SandboxPhase>> spellings = {
      {"provisioning", phase::kProvisioning}, {"running", phase::kRunning},
      {"exited", phase::kExited},             {"failed", phase::kFailed},
      {"deleting", phase::kDeleting},         {"stopping", phase::kStopping},
      {"stopped", phase::kStopped},           {"starting", phase::kStarting}};
  TempDir dir;
  const std::string path = dir / "state.db";
  SandboxRecord r = MakeRecord(1);
  { RequireOk(OpenStore(path)->Insert(r)); }
  for (const auto& [text, ph] : spellings) {
    INFO(text);
    // As an earlier driver stored it.
    RawQuery(path, "UPDATE sandboxes SET phase = '" + text + "' WHERE id = '" + r.id + "'");
    auto store = OpenStore(path);
    auto got = store->Get(r.id);
    REQUIRE(got.ok());
    REQUIRE(got->has_value());
    CHECK((*got)->phase == ph);
    // And as this one stores it.
    SandboxRecord next = **got;
    next.generation += 1;
    RequireOk(store->Update(next));
    store.reset();
    CHECK(RawQuery(path, "SELECT phase FROM sandboxes WHERE id = '" + r.id + "'") == text);
  }
  // A phase no driver of ours wrote loads, as unknown, rather than failing
  // the whole state dir.
  RawQuery(path, "UPDATE sandboxes SET phase = 'hibernating' WHERE id = '" + r.id + "'");
  auto got = OpenStore(path)->Get(r.id);
  REQUIRE(got.ok());
  REQUIRE(got->has_value());
  CHECK((*got)->phase == SandboxPhase::kUnknown);
}

}  // namespace
}  // namespace osgv
