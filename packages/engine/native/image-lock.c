/*
 * The lock QEMU honours on an image it opens for writing: QEMU's file driver marks "this opener
 * does not share the write permission" with a shared (read) lock on one byte of the image (an
 * open file description lock, F_OFD_SETLK), and refuses to open the image for writing while anyone
 * holds a lock there. A read-only qemu-nbd serving a qcow2 image holds it (the qcow2 driver shares
 * no writes under it); one serving a raw image does not (the raw driver passes on whatever its
 * user shares, and qemu-nbd shares everything). Node has no fcntl binding.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdbool.h>
#include <string.h>

/* Reads (fd, offset) into a one-byte lock of `type`; false (a TypeError thrown) on bad arguments. */
static bool ByteArgs(napi_env env, napi_callback_info info, short type, int32_t *fd,
                     struct flock *fl) {
  size_t argc = 2;
  napi_value args[2];
  int64_t offset = -1;
  napi_get_cb_info(env, info, &argc, args, NULL, NULL);
  if (argc < 2 || napi_get_value_int32(env, args[0], fd) != napi_ok ||
      napi_get_value_int64(env, args[1], &offset) != napi_ok || *fd < 0 || offset < 0) {
    napi_throw_type_error(env, NULL, "a descriptor and an offset are required");
    return false;
  }
  memset(fl, 0, sizeof *fl);
  fl->l_type = type;
  fl->l_whence = SEEK_SET;
  fl->l_start = offset;
  fl->l_len = 1;
  return true;
}

static napi_value Int(napi_env env, int32_t v) {
  napi_value result;
  napi_create_int32(env, v, &result);
  return result;
}

/* lockByte(fd: number, offset: number): number — 0, or the errno (EAGAIN: someone writes). */
static napi_value LockByte(napi_env env, napi_callback_info info) {
  int32_t fd;
  struct flock fl;
  if (!ByteArgs(env, info, F_RDLCK, &fd, &fl)) {
    return NULL;
  }
  return Int(env, fcntl(fd, F_OFD_SETLK, &fl) == 0 ? 0 : errno);
}

/*
 * lockedByOthers(fd: number, offset: number): number — 1 when another open file description
 * holds a lock on the byte (QEMU's opener that has the write permission holds one), 0 when none
 * does, or -errno. Asked as a write lock: any lock of another description conflicts with it.
 */
static napi_value LockedByOthers(napi_env env, napi_callback_info info) {
  int32_t fd;
  struct flock fl;
  if (!ByteArgs(env, info, F_WRLCK, &fd, &fl)) {
    return NULL;
  }
  if (fcntl(fd, F_OFD_GETLK, &fl) != 0) {
    return Int(env, -errno);
  }
  return Int(env, fl.l_type != F_UNLCK ? 1 : 0);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "lockByte", NAPI_AUTO_LENGTH, LockByte, NULL, &fn);
  napi_set_named_property(env, exports, "lockByte", fn);
  napi_create_function(env, "lockedByOthers", NAPI_AUTO_LENGTH, LockedByOthers, NULL, &fn);
  napi_set_named_property(env, exports, "lockedByOthers", fn);
  return exports;
}
