// A private directory under $TMPDIR (or /tmp) for one test, removed with
// everything in it (read-only entries too) when it goes out of scope.
#pragma once

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "lifecycle/image/image_fs.h"

namespace osgv::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "osgv-test") {
    std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
    REQUIRE(mkdtemp(tmpl.data()) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() { (void)image_fs::ForceRemoveAll(path_); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // A path inside the directory.
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }
  // A subdirectory, created.
  std::string Dir(const std::string& name) const {
    std::string p = path_ + "/" + name;
    std::filesystem::create_directories(p);
    return p;
  }

 private:
  std::string path_;
};

}  // namespace osgv::testing
