// libfuse3's low-level API for Swift. FUSE_USE_VERSION selects the 3.12 ABI (libfuse 3.14
// here). Swift cannot call function-like macros or build C compound literals, so the few
// calls that need them are wrapped in static inline functions below.
#ifndef LAZYCAS_CFUSE_SHIM_H
#define LAZYCAS_CFUSE_SHIM_H

#define FUSE_USE_VERSION 312
#include <fuse3/fuse_lowlevel.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <errno.h>
#include <stddef.h>

/// Runs the multi-threaded session loop until the filesystem is unmounted.
static inline int cfuse_session_loop_mt(struct fuse_session *se, unsigned int max_threads) {
    struct fuse_loop_config *config = fuse_loop_cfg_create();
    if (config == NULL) return -ENOMEM;
    fuse_loop_cfg_set_max_threads(config, max_threads);
    fuse_loop_cfg_set_idle_threads(config, max_threads / 2 > 0 ? max_threads / 2 : 1);
    int result = fuse_session_loop_mt(se, config);
    fuse_loop_cfg_destroy(config);
    return result;
}

/// Replies to a read with `size` bytes of file descriptor `fd` from `offset`, letting libfuse
/// splice them into the kernel without copying through user space.
static inline int cfuse_reply_fd(fuse_req_t req, int fd, size_t size, off_t offset) {
    struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);
    buf.buf[0].flags = (enum fuse_buf_flags)(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    buf.buf[0].fd = fd;
    buf.buf[0].pos = offset;
    return fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

/// Sets the open-file flags lazycas uses on every file: the content is immutable, so the
/// kernel may keep its page cache across opens.
static inline void cfuse_set_keep_cache(struct fuse_file_info *fi) {
    fi->keep_cache = 1;
}

/// For directories: the listing never changes, so the kernel may cache readdir results.
static inline void cfuse_set_cache_readdir(struct fuse_file_info *fi) {
    fi->cache_readdir = 1;
    fi->keep_cache = 1;
}

#endif
