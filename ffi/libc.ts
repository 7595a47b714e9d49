// The one place liveframe opens libc. Every binding names the man page it follows.
// Linux x86_64 / aarch64 with glibc: struct layouts used elsewhere in ffi/ assume LP64.
import { dlopen, FFIType } from "bun:ffi";

const { i32, u32, i64, u64, ptr, cstring } = FFIType;

function openLibc() {
  const symbols = {
    // socket(2), bind(2), listen(2), accept is Bun's job
    socket: { args: [i32, i32, i32], returns: i32 },
    bind: { args: [i32, ptr, u32], returns: i32 },
    listen: { args: [i32, i32], returns: i32 },
    connect: { args: [i32, ptr, u32], returns: i32 },
    // setsockopt(2) / getsockopt(2)
    setsockopt: { args: [i32, i32, i32, ptr, u32], returns: i32 },
    getsockopt: { args: [i32, i32, i32, ptr, ptr], returns: i32 },
    // getsockname(2), getpeername(2)
    getsockname: { args: [i32, ptr, ptr], returns: i32 },
    getpeername: { args: [i32, ptr, ptr], returns: i32 },
    // socketpair(2)
    socketpair: { args: [i32, i32, i32, ptr], returns: i32 },
    // close(2), dup(2), fcntl(2) (called with one int argument only)
    close: { args: [i32], returns: i32 },
    dup: { args: [i32], returns: i32 },
    fcntl: { args: [i32, i32, i32], returns: i32 },
    // sendmsg(2), recvmsg(2): ssize_t results
    sendmsg: { args: [i32, ptr, i32], returns: i64 },
    recvmsg: { args: [i32, ptr, i32], returns: i64 },
    // sendfile(2): ssize_t result
    sendfile: { args: [i32, i32, ptr, u64], returns: i64 },
    // poll(2)
    poll: { args: [ptr, u64, i32], returns: i32 },
    // mmap(2), munmap(2), mlock(2), munlock(2), msync(2), ftruncate(2)
    mmap: { args: [ptr, u64, i32, i32, i32, i64], returns: i64 },
    munmap: { args: [ptr, u64], returns: i32 },
    mlock: { args: [ptr, u64], returns: i32 },
    munlock: { args: [ptr, u64], returns: i32 },
    msync: { args: [ptr, u64, i32], returns: i32 },
    ftruncate: { args: [i32, i64], returns: i32 },
    // posix_fallocate(3): returns the error number itself (errno is not set)
    posix_fallocate: { args: [i32, i64, i64], returns: i32 },
    // getrlimit(2)
    getrlimit: { args: [i32, ptr], returns: i32 },
    // syscall(2): used for futex(2) only
    syscall: { args: [i64, ptr, i32, i32, ptr, ptr, i32], returns: i64 },
    // prctl(2): PR_SET_PDEATHSIG
    prctl: { args: [i32, u64, u64, u64, u64], returns: i32 },
    // clock_gettime(2): CLOCK_MONOTONIC for sd_notify's MONOTONIC_USEC
    clock_gettime: { args: [i32, ptr], returns: i32 },
    getuid: { args: [], returns: u32 },
    getpid: { args: [], returns: i32 },
    getppid: { args: [], returns: i32 },
    // errno(3): glibc's thread-local errno
    __errno_location: { args: [], returns: ptr },
    strerror: { args: [i32], returns: cstring },
  } as const;
  for (const name of ["libc.so.6", "libc.so"]) {
    try {
      return dlopen(name, symbols).symbols;
    } catch {
      // try the next name
    }
  }
  throw new Error(
    "liveframe: cannot load libc (tried libc.so.6, libc.so): liveframe needs Linux with glibc",
  );
}

export const libc = openLibc();
