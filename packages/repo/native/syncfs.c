/*
 * syncfs(2) for the repository's commit: one flush of the filesystem holding a folder, run on
 * libuv's pool. Node has no binding, and spawning coreutils' `sync -f` from a backup's process
 * (~250 MiB resident) forked it twice per commit: 20-35 ms of the event loop each on the lab
 * machine, and a write fault afterwards on every page the process touched again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char *path;
  int err;
} SyncRequest;

/* On the pool: open the folder, flush its filesystem, keep errno. */
static void Execute(napi_env env, void *data) {
  SyncRequest *r = data;
  int fd = open(r->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    r->err = errno;
    return;
  }
  r->err = syncfs(fd) == 0 ? 0 : errno;
  close(fd);
}

/* Back on the loop: resolve with 0 or the errno, which the caller turns into its own error. */
static void Complete(napi_env env, napi_status status, void *data) {
  SyncRequest *r = data;
  napi_value result;
  napi_create_int32(env, status == napi_ok ? r->err : EIO, &result);
  napi_resolve_deferred(env, r->deferred, result);
  napi_delete_async_work(env, r->work);
  free(r->path);
  free(r);
}

/* syncfs(path: string): Promise<number> */
static napi_value Syncfs(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  size_t len = 0;
  napi_get_cb_info(env, info, &argc, &arg, NULL, NULL);
  if (argc < 1 || napi_get_value_string_utf8(env, arg, NULL, 0, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "syncfs: a path is required");
    return NULL;
  }
  SyncRequest *r = calloc(1, sizeof *r);
  if (r == NULL || (r->path = malloc(len + 1)) == NULL) {
    free(r);
    napi_throw_error(env, NULL, "syncfs: out of memory");
    return NULL;
  }
  napi_get_value_string_utf8(env, arg, r->path, len + 1, &len);
  napi_value promise, name;
  napi_create_promise(env, &r->deferred, &promise);
  napi_create_string_utf8(env, "virtvault:syncfs", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, Execute, Complete, r, &r->work);
  napi_queue_async_work(env, r->work);
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "syncfs", NAPI_AUTO_LENGTH, Syncfs, NULL, &fn);
  napi_set_named_property(env, exports, "syncfs", fn);
  return exports;
}
