#include "lifecycle/elf_file.h"

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "lifecycle/unique_fd.h"

namespace osgv {
namespace {

bool ReadAt(int fd, void* buf, size_t n, off_t off) {
  return pread(fd, buf, n, off) == static_cast<ssize_t>(n);
}

template <typename Ehdr, typename Phdr>
absl::StatusOr<std::string> ReadInterpreter(int fd, const std::string& path) {
  Ehdr eh;
  if (!ReadAt(fd, &eh, sizeof eh, 0) || eh.e_phentsize != sizeof(Phdr)) {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "': truncated ELF header"));
  }
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Phdr ph;
    if (!ReadAt(fd, &ph, sizeof ph, static_cast<off_t>(eh.e_phoff + i * sizeof ph))) {
      return absl::InvalidArgumentError(absl::StrCat("'", path, "': truncated program headers"));
    }
    if (ph.p_type != PT_INTERP) continue;
    if (ph.p_filesz == 0 || ph.p_filesz > 4096) {
      return absl::InvalidArgumentError(absl::StrCat("'", path, "': bad PT_INTERP"));
    }
    std::string interp(ph.p_filesz, '\0');
    if (!ReadAt(fd, interp.data(), interp.size(), static_cast<off_t>(ph.p_offset))) {
      return absl::InvalidArgumentError(absl::StrCat("'", path, "': truncated PT_INTERP"));
    }
    interp.resize(strnlen(interp.c_str(), interp.size()));
    return interp;
  }
  return std::string();
}

}  // namespace

absl::StatusOr<ElfFacts> ReadElfFacts(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("'", path, "': ", std::strerror(errno)));
  UniqueFd closer(fd);
  unsigned char ident[EI_NIDENT];
  if (!ReadAt(fd, ident, sizeof ident, 0) || std::memcmp(ident, ELFMAG, SELFMAG) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "' is not an ELF executable"));
  }
  ElfFacts facts;
  facts.is_64bit = ident[EI_CLASS] == ELFCLASS64;
  const unsigned char native =
      __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
  facts.native_byte_order = ident[EI_DATA] == native;
  if (ident[EI_CLASS] == ELFCLASS64) {
    facts.interpreter = ReadInterpreter<Elf64_Ehdr, Elf64_Phdr>(fd, path);
  } else if (ident[EI_CLASS] == ELFCLASS32) {
    facts.interpreter = ReadInterpreter<Elf32_Ehdr, Elf32_Phdr>(fd, path);
  } else {
    return absl::InvalidArgumentError(absl::StrCat("'", path, "': unknown ELF class"));
  }
  return facts;
}

absl::StatusOr<std::string> ElfInterpreter(const std::string& path) {
  auto facts = ReadElfFacts(path);
  if (!facts.ok()) return facts.status();
  return std::move(facts->interpreter);
}

}  // namespace osgv
