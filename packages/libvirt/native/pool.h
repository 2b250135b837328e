// A small thread pool owned by the addon: libvirt calls block (a second backup-begin waits 30 s on the
// domain's state lock), so they must never run on libuv's shared pool that fs and zlib use.
// Jobs complete their promise on the JS thread through one ThreadSafeFunction.
#pragma once

#include <napi.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "lv-error.h"

namespace vv {

/** A unit of work: Execute() on a pool thread, Complete() on the JS thread. */
class Job {
 public:
  explicit Job(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  virtual ~Job() = default;
  virtual void Execute() = 0;
  virtual Napi::Value Complete(Napi::Env env) = 0;

  Napi::Promise::Deferred deferred;
  std::optional<LvError> error;
};

/** Job built from two lambdas; `work` throws LvError on failure. */
template <typename R>
class FnJob : public Job {
 public:
  FnJob(Napi::Env env, std::function<R()> work, std::function<Napi::Value(Napi::Env, R&)> toJs)
      : Job(env), work_(std::move(work)), toJs_(std::move(toJs)) {}
  void Execute() override {
    try {
      result_.emplace(work_());
    } catch (const LvError& e) {
      error = e;
    } catch (const std::exception& e) {
      error = LvError::Internal(e.what());
    }
  }
  Napi::Value Complete(Napi::Env env) override { return toJs_(env, *result_); }

 private:
  std::function<R()> work_;
  std::function<Napi::Value(Napi::Env, R&)> toJs_;
  std::optional<R> result_;
};

struct PoolShared;
void CallJobJs(Napi::Env env, Napi::Function, void* ctx, Job* job);
using JobTsfn = Napi::TypedThreadSafeFunction<void, Job, CallJobJs>;

/** Grows from 2 to kMaxThreads threads when every thread is busy; never uses libuv's pool. */
class Pool {
 public:
  static constexpr int kMinThreads = 2;
  static constexpr int kMaxThreads = 16;

  explicit Pool(Napi::Env env);
  /** Queues a job and returns its promise (JS thread only). */
  Napi::Promise Submit(Napi::Env env, Job* job);
  /** Queues fire-and-forget work (any thread): used by finalizers to free libvirt objects. */
  void Post(std::function<void()> task);
  /** Threads started so far, busy threads, queued jobs. */
  Napi::Object Stats(Napi::Env env);
  /** Called once per completed job on the JS thread. */
  void JobDone(Napi::Env env);
  void Shutdown();

 private:
  void Spawn();
  std::shared_ptr<PoolShared> shared_;
  JobTsfn tsfn_;
  size_t pending_ = 0;  // JS-thread only: jobs whose promise is not settled yet
};

/** The pool of the current environment. */
Pool& GetPool(Napi::Env env);

/** Convenience: run `work` on the pool, convert its result with `toJs` on the JS thread. */
template <typename R>
Napi::Promise Run(Napi::Env env, std::function<R()> work,
                  std::function<Napi::Value(Napi::Env, R&)> toJs) {
  return GetPool(env).Submit(env, new FnJob<R>(env, std::move(work), std::move(toJs)));
}

}  // namespace vv
