/* libfaketime 0.9.10 turns an absolute sleep on CLOCK_MONOTONIC into a negative one when
   FAKETIME_DONT_FAKE_MONOTONIC is set (wolfcw/libfaketime#426), and Python 3.11's time.sleep
   sleeps that way. Preloaded ahead of libfaketime, this hands such sleeps to the kernel
   untouched; sleeps on the real-time clock still go to libfaketime. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int clock_nanosleep(clockid_t clock, int flags, const struct timespec *request, struct timespec *remain)
{
    if (clock != CLOCK_REALTIME) {
        return syscall(SYS_clock_nanosleep, clock, flags, request, remain) == 0 ? 0 : errno;
    }
    static int (*next)(clockid_t, int, const struct timespec *, struct timespec *);
    if (!next) {
        next = dlsym(RTLD_NEXT, "clock_nanosleep");
    }
    return next(clock, flags, request, remain);
}
