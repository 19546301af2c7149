#pragma once
// How the stream service learns of new subband files (docs/service.md):
// inotify close-after-write and moved-to events on the input directory are
// hints; a periodic listing reconciles what inotify misses (queue overflow,
// network file systems, a restart). A file is accepted only when it has
// settled — size and mtime unchanged across two looks `settle_s` apart — and
// its header opens; a file still being written is looked at again, never
// failed. One that has settled but whose header still does not open after
// `unreadable_after_s` is accepted as it is: the indexer records it invalid
// with the reader's error, and its group fails naming it.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace contimg::service {

// Names the service never registers: hidden files (rsync's `.name.XXXXXX`
// temporaries), the DSA-110 writer's `*_incomplete*` names, and anything
// that is not a `*_sb*.hdf5` candidate. They are picked up once renamed.
bool is_ignored_name(std::string_view file_name);

// inotify on one directory. When inotify cannot be used (no instance left,
// an unsupported file system) it says so once and the caller relies on the
// periodic listing alone.
class DirectoryWatcher {
 public:
  explicit DirectoryWatcher(const std::filesystem::path& dir);
  ~DirectoryWatcher();
  DirectoryWatcher(const DirectoryWatcher&) = delete;
  DirectoryWatcher& operator=(const DirectoryWatcher&) = delete;

  struct Events {
    std::vector<std::filesystem::path> paths;  // candidate files named by events
    bool overflow = false;                     // events were lost: list the directory
  };
  // Waits up to `timeout_s` for events and returns them (none on time-out).
  Events wait(double timeout_s);
  bool active() const { return fd_ >= 0; }

 private:
  std::filesystem::path dir_;
  int fd_ = -1;
};

// What a look at a file found.
struct FileStamp {
  std::uintmax_t size = 0;
  std::int64_t mtime_ns = 0;
  bool operator==(const FileStamp&) const = default;
};

struct AcceptorSettings {
  double settle_s = 2;
  double unreadable_after_s = 120;
};

// The acceptance rule, on injected looks so that tests control time and the
// file system.
class FileAcceptor {
 public:
  using StatFn = std::function<std::optional<FileStamp>(const std::filesystem::path&)>;
  // "" when the header opens, else the reader's error.
  using HeaderFn = std::function<std::string(const std::filesystem::path&)>;

  FileAcceptor(AcceptorSettings settings, StatFn stat, HeaderFn header);

  // A file seen (an event or a listing): looked at by the next poll. Offering
  // a file already pending changes nothing.
  void offer(const std::filesystem::path& path, double now_s);

  struct Accepted {
    std::filesystem::path path;
    FileStamp stamp;
    std::string header_error;  // non-empty: accepted as unreadable
  };
  // Looks at every pending file; returns those accepted now (they leave the
  // pending set). A file that vanished leaves it silently (renamed away).
  std::vector<Accepted> poll(double now_s);

  std::size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    FileStamp stamp;
    double stable_since = 0;  // when the stamp was last seen to change
    bool seen = false;        // stamp is from a look
    std::string last_error;
  };
  AcceptorSettings settings_;
  StatFn stat_;
  HeaderFn header_;
  std::map<std::filesystem::path, Pending> pending_;
};

// stat(2) of a regular file; nullopt when absent or not a regular file.
std::optional<FileStamp> stat_file(const std::filesystem::path& path);

}  // namespace contimg::service
