// The durable record of every sandbox: SQLite in WAL mode with
// synchronous=FULL, so a write that returned OK survives a crash or power
// loss. One store owns the database; nothing else opens it for writing.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "openshell_gvisor/sandbox_phase.h"

struct sqlite3;

namespace osgv {

struct SandboxRecord {
  std::string id;              // gateway's sandbox id (primary key)
  std::string name;            // echoed exactly in every snapshot
  std::string namespace_name;
  std::string workspace;
  std::string runsc_id;        // fixed-length "osgv-<32 hex>", host-unique
  std::string image_ref;
  std::string image_digest;    // resolved manifest digest ("" until pulled)
  SandboxPhase phase = SandboxPhase::kProvisioning;  // stored as PhaseName
  std::string reason;          // condition reason for the phase
  std::string message;
  std::optional<int> exit_code;
  std::string spec_json;       // request without the token (spec_codec.h)
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  int64_t monitor_pid = 0;     // per-sandbox monitor, 0 = none
  int64_t generation = 0;      // bumps on every update
  std::string checkpoint_json; // the kept memory image (checkpoint.h), "" = none
  // What the sandbox is (sandbox_plan.h), decided at create or import; ""
  // in a record written before plans existed (schema 1).
  std::string plan_json;

  friend bool operator==(const SandboxRecord&, const SandboxRecord&) = default;
};

// What the SandboxManager needs of the store: one interface, so that tests
// can make commits fail (a full or broken disk) without a real one.
class RecordStore {
 public:
  virtual ~RecordStore() = default;

  // ALREADY_EXISTS naming "sandbox.id" or "sandbox.name" on a duplicate id,
  // or a duplicate (workspace, name).
  virtual absl::Status Insert(const SandboxRecord& record) = 0;
  // Replaces every field of the row with record.id. The store writes the
  // record exactly as given, `generation` included: the caller bumps it.
  // NOT_FOUND if the id is unknown; ALREADY_EXISTS ("sandbox.name") if the
  // new (workspace, name) belongs to another sandbox.
  //
  // kProcessCrash is for intent records ("stopping", "starting") written
  // just before an action: they only matter if the driver dies midway, and
  // a process crash cannot lose them (the WAL write has reached the OS).
  // A power loss can; it also ends every sandbox, so recovery finds the
  // previous state, which is then the right one.
  enum class Durability { kPowerLoss, kProcessCrash };
  virtual absl::Status Update(const SandboxRecord& record,
                              Durability durability = Durability::kPowerLoss) = 0;
  // OK even when absent (idempotent).
  virtual absl::Status Delete(const std::string& id) = 0;
  virtual absl::StatusOr<std::optional<SandboxRecord>> Get(const std::string& id) = 0;
  virtual absl::StatusOr<std::vector<SandboxRecord>> List() = 0;
};

class StateStore : public RecordStore {
 public:
  // Opens (creating if needed) the database file and its schema. The file
  // and its -wal/-shm companions are mode 0600. FAILED_PRECONDITION if the
  // file's schema is newer than this driver understands.
  static absl::StatusOr<std::unique_ptr<StateStore>> Open(const std::string& path);
  ~StateStore() override;

  absl::Status Insert(const SandboxRecord& record) override;
  absl::Status Update(const SandboxRecord& record,
                      Durability durability = Durability::kPowerLoss) override;
  absl::Status Delete(const std::string& id) override;
  absl::StatusOr<std::optional<SandboxRecord>> Get(const std::string& id) override;
  absl::StatusOr<std::vector<SandboxRecord>> List() override;

 private:
  explicit StateStore(sqlite3* db);
  absl::Status UpdateLocked(const SandboxRecord& record);

  // Serialises callers so one call's statements (a transaction's above all)
  // never interleave with another's on the shared connection.
  std::mutex mu_;
  sqlite3* db_;
};

}  // namespace osgv
