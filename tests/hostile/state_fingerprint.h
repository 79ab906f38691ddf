// A fingerprint of everything under a state directory, to prove that a
// refused request changed nothing: every entry's relative path, type, mode,
// and content digest (files) or target (symlinks).
//
// SQLite's -shm file is the one exception, and only its size and content:
// it is the WAL index, shared memory that a reader may write its read mark
// into, so a harmless read can change it. The database and -wal file are
// compared byte for byte like everything else (no read writes them), and
// the records are compared through StateStore::List as well (Records), so
// a change to the data cannot hide behind the exception.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "lifecycle/store/state_store.h"

namespace osgv::testing {

using Fingerprint = std::map<std::string, std::string>;  // relative path -> description

// Lists `root` recursively (without following symlinks).
Fingerprint FingerprintTree(const std::string& root);

// Every record, as StateStore::List returns them (SandboxRecord has ==).
std::vector<SandboxRecord> Records(StateStore& store);

// The paths whose description differs, was added or removed: what a failed
// comparison prints (paths only, never contents, which may be secret).
std::vector<std::string> ChangedPaths(const Fingerprint& before, const Fingerprint& after);

// Whether the -shm file's content changed (which ChangedPaths forgives).
bool WalIndexContentChanged(const Fingerprint& before, const Fingerprint& after);

}  // namespace osgv::testing
