#include "lifecycle/network/host_resolver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"

namespace osgv {
namespace {

// Shared by Resolve and its lookup threads; the last one out frees it.
struct Pending {
  std::mutex mu;
  std::condition_variable done;
  std::map<std::string, absl::StatusOr<std::vector<std::string>>> results;
};

}  // namespace

absl::StatusOr<std::vector<std::string>> LookupIpv4(const std::string& name) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* list = nullptr;
  const int rc = getaddrinfo(name.c_str(), nullptr, &hints, &list);
  if (rc != 0) {
    const std::string why = absl::StrCat("cannot resolve '", name, "': ", gai_strerror(rc));
    if (rc == EAI_NONAME || rc == EAI_NODATA) return absl::NotFoundError(why);
    return absl::UnavailableError(why);
  }
  std::set<std::string> addresses;
  for (addrinfo* a = list; a != nullptr; a = a->ai_next) {
    char text[INET_ADDRSTRLEN] = {};
    const auto* in = reinterpret_cast<const sockaddr_in*>(a->ai_addr);
    if (a->ai_family == AF_INET && inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text))) {
      addresses.insert(text);
    }
  }
  freeaddrinfo(list);
  if (addresses.empty()) {
    return absl::NotFoundError(absl::StrCat("'", name, "' has no IPv4 address"));
  }
  return std::vector<std::string>(addresses.begin(), addresses.end());
}

SystemHostResolver::SystemHostResolver() : lookup_(LookupIpv4) {}

SystemHostResolver::SystemHostResolver(Lookup lookup) : lookup_(std::move(lookup)) {}

std::map<std::string, absl::StatusOr<std::vector<std::string>>> SystemHostResolver::Resolve(
    const std::vector<std::string>& names, std::chrono::milliseconds timeout) {
  auto pending = std::make_shared<Pending>();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::set<std::string> unique(names.begin(), names.end());
  for (const std::string& name : unique) {
    // Detached: a lookup past the deadline must not hold up the caller (see
    // the header); `pending` keeps its result slot alive.
    std::thread([pending, name, lookup = lookup_] {
      auto result = lookup(name);
      std::lock_guard<std::mutex> lock(pending->mu);
      pending->results.emplace(name, std::move(result));
      pending->done.notify_all();
    }).detach();
  }
  std::unique_lock<std::mutex> lock(pending->mu);
  pending->done.wait_until(lock, deadline,
                           [&] { return pending->results.size() >= unique.size(); });
  std::map<std::string, absl::StatusOr<std::vector<std::string>>> out;
  for (const std::string& name : unique) {
    auto it = pending->results.find(name);
    out.emplace(name, it != pending->results.end()
                          ? it->second
                          : absl::DeadlineExceededError(absl::StrCat(
                                "resolving '", name, "' took longer than ", timeout.count(),
                                " ms")));
  }
  return out;
}

}  // namespace osgv
