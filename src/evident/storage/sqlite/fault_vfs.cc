#include "evident/storage/sqlite/fault_vfs.h"

#include <cstring>
#include <string_view>

namespace evident::storage::sqlite {
namespace {

// A file of the shim: the real file's object follows it in the space SQLite allots (szOsFile).
struct FaultFile {
  sqlite3_file base;
  FaultVfs* owner;
  const char* name;  // valid until xClose (SQLite's promise)
  sqlite3_file* real() { return reinterpret_cast<sqlite3_file*>(this + 1); }
};
// The real file's object starts right after: its fields are pointers and 64-bit integers.
static_assert(sizeof(FaultFile) % alignof(sqlite3_int64) == 0);

FaultFile* Cast(sqlite3_file* file) { return reinterpret_cast<FaultFile*>(file); }
sqlite3_file* Real(sqlite3_file* file) { return Cast(file)->real(); }
FaultVfs* Owner(sqlite3_vfs* vfs) { return static_cast<FaultVfs*>(vfs->pAppData); }

int Close(sqlite3_file* file) { return Real(file)->pMethods->xClose(Real(file)); }
int Read(sqlite3_file* file, void* data, int amount, sqlite3_int64 offset) {
  return Real(file)->pMethods->xRead(Real(file), data, amount, offset);
}
int Write(sqlite3_file* file, const void* data, int amount, sqlite3_int64 offset) {
  FaultFile* f = Cast(file);
  if (f->owner->ShouldFail(f->name, data, amount)) return SQLITE_FULL;
  return f->real()->pMethods->xWrite(f->real(), data, amount, offset);
}
int Truncate(sqlite3_file* file, sqlite3_int64 size) {
  return Real(file)->pMethods->xTruncate(Real(file), size);
}
int Sync(sqlite3_file* file, int flags) { return Real(file)->pMethods->xSync(Real(file), flags); }
int FileSize(sqlite3_file* file, sqlite3_int64* size) {
  return Real(file)->pMethods->xFileSize(Real(file), size);
}
int Lock(sqlite3_file* file, int level) { return Real(file)->pMethods->xLock(Real(file), level); }
int Unlock(sqlite3_file* file, int level) {
  return Real(file)->pMethods->xUnlock(Real(file), level);
}
int CheckReservedLock(sqlite3_file* file, int* out) {
  return Real(file)->pMethods->xCheckReservedLock(Real(file), out);
}
int FileControl(sqlite3_file* file, int op, void* arg) {
  return Real(file)->pMethods->xFileControl(Real(file), op, arg);
}
int SectorSize(sqlite3_file* file) { return Real(file)->pMethods->xSectorSize(Real(file)); }
int DeviceCharacteristics(sqlite3_file* file) {
  return Real(file)->pMethods->xDeviceCharacteristics(Real(file));
}
int ShmMap(sqlite3_file* file, int region, int size, int extend, void volatile** out) {
  return Real(file)->pMethods->xShmMap(Real(file), region, size, extend, out);
}
int ShmLock(sqlite3_file* file, int offset, int n, int flags) {
  return Real(file)->pMethods->xShmLock(Real(file), offset, n, flags);
}
void ShmBarrier(sqlite3_file* file) { Real(file)->pMethods->xShmBarrier(Real(file)); }
int ShmUnmap(sqlite3_file* file, int delete_flag) {
  return Real(file)->pMethods->xShmUnmap(Real(file), delete_flag);
}
int Fetch(sqlite3_file* file, sqlite3_int64 offset, int amount, void** out) {
  return Real(file)->pMethods->xFetch(Real(file), offset, amount, out);
}
int Unfetch(sqlite3_file* file, sqlite3_int64 offset, void* page) {
  return Real(file)->pMethods->xUnfetch(Real(file), offset, page);
}

// Version 3, as the unix VFS's: WAL needs the shared-memory methods.
const sqlite3_io_methods kMethods = {
    .iVersion = 3,
    .xClose = Close,
    .xRead = Read,
    .xWrite = Write,
    .xTruncate = Truncate,
    .xSync = Sync,
    .xFileSize = FileSize,
    .xLock = Lock,
    .xUnlock = Unlock,
    .xCheckReservedLock = CheckReservedLock,
    .xFileControl = FileControl,
    .xSectorSize = SectorSize,
    .xDeviceCharacteristics = DeviceCharacteristics,
    .xShmMap = ShmMap,
    .xShmLock = ShmLock,
    .xShmBarrier = ShmBarrier,
    .xShmUnmap = ShmUnmap,
    .xFetch = Fetch,
    .xUnfetch = Unfetch,
};

int Open(sqlite3_vfs* vfs, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  FaultFile* f = Cast(file);
  f->owner = Owner(vfs);
  f->name = name;
  sqlite3_vfs* real = f->owner->real();
  const int rc = real->xOpen(real, name, f->real(), flags, out_flags);
  // SQLite closes a file whose methods are set, even when opening it failed.
  f->base.pMethods = f->real()->pMethods != nullptr ? &kMethods : nullptr;
  return rc;
}

}  // namespace

FaultVfs::FaultVfs() : real_(sqlite3_vfs_find(nullptr)) {
  // Every method but xOpen is the real VFS's, called with it (the unix VFS reads its pAppData).
  vfs_.iVersion = 1;
  vfs_.szOsFile = static_cast<int>(sizeof(FaultFile)) + real_->szOsFile;
  vfs_.mxPathname = real_->mxPathname;
  vfs_.zName = "evident-fault";
  vfs_.pAppData = this;
  vfs_.xOpen = Open;
  vfs_.xDelete = [](sqlite3_vfs* vfs, const char* name, int sync_dir) {
    return Owner(vfs)->real()->xDelete(Owner(vfs)->real(), name, sync_dir);
  };
  vfs_.xAccess = [](sqlite3_vfs* vfs, const char* name, int flags, int* out) {
    return Owner(vfs)->real()->xAccess(Owner(vfs)->real(), name, flags, out);
  };
  vfs_.xFullPathname = [](sqlite3_vfs* vfs, const char* name, int size, char* out) {
    return Owner(vfs)->real()->xFullPathname(Owner(vfs)->real(), name, size, out);
  };
  vfs_.xDlOpen = [](sqlite3_vfs* vfs, const char* name) {
    return Owner(vfs)->real()->xDlOpen(Owner(vfs)->real(), name);
  };
  vfs_.xDlError = [](sqlite3_vfs* vfs, int size, char* out) {
    Owner(vfs)->real()->xDlError(Owner(vfs)->real(), size, out);
  };
  vfs_.xDlSym = [](sqlite3_vfs* vfs, void* handle, const char* symbol) {
    return Owner(vfs)->real()->xDlSym(Owner(vfs)->real(), handle, symbol);
  };
  vfs_.xDlClose = [](sqlite3_vfs* vfs, void* handle) {
    Owner(vfs)->real()->xDlClose(Owner(vfs)->real(), handle);
  };
  vfs_.xRandomness = [](sqlite3_vfs* vfs, int size, char* out) {
    return Owner(vfs)->real()->xRandomness(Owner(vfs)->real(), size, out);
  };
  vfs_.xSleep = [](sqlite3_vfs* vfs, int micros) {
    return Owner(vfs)->real()->xSleep(Owner(vfs)->real(), micros);
  };
  vfs_.xCurrentTime = [](sqlite3_vfs* vfs, double* out) {
    return Owner(vfs)->real()->xCurrentTime(Owner(vfs)->real(), out);
  };
  vfs_.xGetLastError = [](sqlite3_vfs* vfs, int size, char* out) {
    return Owner(vfs)->real()->xGetLastError(Owner(vfs)->real(), size, out);
  };
  sqlite3_vfs_register(&vfs_, 1);
}

FaultVfs::~FaultVfs() {
  sqlite3_vfs_unregister(&vfs_);
  sqlite3_vfs_register(real_, 1);
}

void FaultVfs::Arm(std::string suffix, Fail what) {
  {
    std::lock_guard lock(mu_);
    suffix_ = std::move(suffix);
    what_ = what;
  }
  failed_.notify_all();  // stalled writes go on
}

bool FaultVfs::WaitForFailures(uint64_t count, std::chrono::seconds timeout) {
  std::unique_lock lock(mu_);
  return failed_.wait_for(lock, timeout, [&] { return failures_ >= count; });
}

uint64_t FaultVfs::failures() {
  std::lock_guard lock(mu_);
  return failures_;
}

bool FaultVfs::ShouldFail(const char* file, const void* data, int amount) {
  std::unique_lock lock(mu_);
  if (what_ == Fail::kNothing || file == nullptr || !std::string_view(file).ends_with(suffix_)) {
    return false;
  }
  if (what_ == Fail::kStall) {
    ++failures_;
    failed_.notify_all();
    failed_.wait(lock, [&] { return what_ != Fail::kStall; });
    return false;
  }
  if (what_ == Fail::kCommitFrames) {
    // A WAL frame's 24-byte header, written apart from its page, holds at bytes 4-7 the database's
    // size in pages after a commit, and 0 in every other frame.
    if (amount != 24) return false;
    unsigned char size_after_commit[4];
    std::memcpy(size_after_commit, static_cast<const unsigned char*>(data) + 4, 4);
    if (size_after_commit[0] == 0 && size_after_commit[1] == 0 && size_after_commit[2] == 0 &&
        size_after_commit[3] == 0) {
      return false;
    }
  }
  ++failures_;
  failed_.notify_all();
  return true;
}

}  // namespace evident::storage::sqlite
