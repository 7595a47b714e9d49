// A SIGBUS handler for shared file mappings whose file was truncated under them, compiled at
// run time by bun:ffi's cc (TinyCC). Without it, touching a page past the new end of the file
// kills the process with SIGBUS, which Bun reports as "Bun has crashed ... a bug in Bun".
//
// Each guarded mapping is a slot: its address range, the file size it needs, its fd, and a
// shadow copy of its bytes that liveframe refreshes now and then. A SIGBUS inside a slot's
// range while its file is shorter than it needs is repaired in the handler: posix_fallocate(3)
// gives the file its size (and blocks) back, the bytes past the cut are copied back from the
// shadow, and the faulting access is retried on a page that now exists. Anything else (a fault
// outside every slot) goes to the handler that was installed before, as if we were not there.
// When the repair itself fails (a full disk), the slot's message is written to stderr and the
// process dies of SIGBUS without the "bug in Bun" banner.
//
// Only async-signal-safe calls here: lseek(2), posix_fallocate(3) (fallocate(2) on Linux),
// write(2), sigaction(2), memcpy. No headers: TinyCC needs none, and the layouts below are
// glibc's on x86_64 and aarch64 (the ABIs liveframe supports).

typedef unsigned long u64;

extern long lseek(int fd, long offset, int whence);
extern int posix_fallocate(int fd, long offset, long length);
extern long write(int fd, const void *buf, u64 count);
extern void *memcpy(void *dst, const void *src, u64 n);
extern void *malloc(u64 n);
extern void free(void *p);

// glibc's struct sigaction: handler, sigset_t (1024 bits), flags, restorer.
struct sa {
  void *handler;
  u64 mask[16];
  int flags;
  void *restorer;
};
extern int sigaction(int sig, const struct sa *act, struct sa *old);

// The start of siginfo_t: three ints, padding to 8, then si_addr for SIGBUS/SIGSEGV.
struct info {
  int signo, errno_, code, pad;
  void *addr;
};

#define SIGBUS 7
#define SA_SIGINFO 4
#define SA_ONSTACK 0x08000000
#define SEEK_END 2
#define SLOTS 32
#define MESSAGE_BYTES 1024

struct slot {
  volatile int active;
  int fd;
  u64 base, length;
  volatile long size;         // bytes the file must have
  unsigned char *shadow;      // a copy of the first shadow_size bytes, lock words cleared
  volatile long shadow_size;  // 0 while the copy is being refreshed
  volatile long repairs;      // truncations repaired (the handler's or guard_repair's)
  volatile long cut_at;       // smallest file size seen at a repair, -1 before any
  char message[MESSAGE_BYTES];
  int message_length;
};

static struct slot slots[SLOTS];
static struct sa previous;
static int installed;

/** Restores the slot's file size and the bytes past `now` from the shadow. 0 = done. */
static int restore(struct slot *s, long now) {
  if (posix_fallocate(s->fd, 0, s->size) != 0) return -1;
  long have = s->shadow_size;
  if (have > s->size) have = s->size;
  if (now < have) memcpy((void *)(s->base + now), s->shadow + now, have - now);
  if (s->cut_at < 0 || now < s->cut_at) s->cut_at = now;
  s->repairs++;
  return 0;
}

static void die(void) {
  // Back to the default action: returning retries the access, which now ends the process.
  struct sa dfl;
  unsigned char *p = (unsigned char *)&dfl;
  for (u64 i = 0; i < sizeof dfl; i++) p[i] = 0;
  sigaction(SIGBUS, &dfl, 0);
}

static void on_sigbus(int sig, struct info *si, void *context) {
  u64 at = (u64)si->addr;
  for (int i = 0; i < SLOTS; i++) {
    struct slot *s = &slots[i];
    if (!s->active || at < s->base || at >= s->base + s->length) continue;
    long now = lseek(s->fd, 0, SEEK_END);
    if (now >= 0 && now < s->size && at < s->base + (u64)s->size && restore(s, now) == 0) return;
    write(2, s->message, s->message_length);
    die();
    return;
  }
  // Not one of ours: whatever handled SIGBUS before us (Bun's crash handler) does.
  if (previous.flags & SA_SIGINFO) {
    ((void (*)(int, struct info *, void *))previous.handler)(sig, si, context);
  } else if (previous.handler == (void *)0 || previous.handler == (void *)1) {
    die();
  } else {
    ((void (*)(int))previous.handler)(sig);
  }
}

/** Installs the handler once per process. 0 = installed. */
int guard_install(void) {
  if (installed) return 0;
  struct sa act;
  unsigned char *p = (unsigned char *)&act;
  for (u64 i = 0; i < sizeof act; i++) p[i] = 0;
  act.handler = (void *)on_sigbus;
  act.flags = SA_SIGINFO | SA_ONSTACK;
  if (sigaction(SIGBUS, &act, &previous) != 0) return -1;
  installed = 1;
  return 0;
}

/** Takes a free slot for a mapping; returns its index, or -1 when all are taken. */
int guard_add(u64 base, u64 length, int fd, long size) {
  for (int i = 0; i < SLOTS; i++) {
    struct slot *s = &slots[i];
    if (s->active) continue;
    s->base = base;
    s->length = length;
    s->fd = fd;
    s->size = size;
    s->shadow = 0;
    s->shadow_size = 0;
    s->repairs = 0;
    s->cut_at = -1;
    s->message_length = 0;
    s->active = 1;
    return i;
  }
  return -1;
}

void guard_remove(int i) {
  struct slot *s = &slots[i];
  s->active = 0;
  s->shadow_size = 0;
  free(s->shadow);
  s->shadow = 0;
}

void guard_set_file(int i, int fd, long size) {
  slots[i].fd = fd;
  slots[i].size = size;
}

/** A buffer of `bytes` for the shadow (the old one is freed); its address, 0 on failure. */
u64 guard_shadow_buffer(int i, long bytes) {
  struct slot *s = &slots[i];
  s->shadow_size = 0;
  free(s->shadow);
  s->shadow = (unsigned char *)malloc(bytes);
  return (u64)s->shadow;
}

/** The shadow now holds `bytes` valid bytes. */
void guard_shadow_ready(int i, long bytes) {
  slots[i].shadow_size = bytes;
}

/** Marks the shadow as being rewritten: the handler then restores the size only. */
void guard_shadow_busy(int i) {
  slots[i].shadow_size = 0;
}

int guard_set_message(int i, const char *text, int length) {
  struct slot *s = &slots[i];
  if (length > MESSAGE_BYTES) length = MESSAGE_BYTES;
  for (int k = 0; k < length; k++) s->message[k] = text[k];
  s->message_length = length;
  return length;
}

long guard_repairs(int i) {
  return slots[i].repairs;
}

/** The smallest size the file was cut to since the last call (-1: none); starts afresh. */
long guard_take_cut_at(int i) {
  long cut = slots[i].cut_at;
  slots[i].cut_at = -1;
  return cut;
}

/**
 * The same repair, from JS: a truncation noticed before anything touched a missing page.
 * 1 = repaired, 0 = nothing to do, -1 = the file could not be given its size back.
 */
int guard_check(int i) {
  struct slot *s = &slots[i];
  long now = lseek(s->fd, 0, SEEK_END);
  if (now < 0 || now >= s->size) return 0;
  return restore(s, now) == 0 ? 1 : -1;
}
