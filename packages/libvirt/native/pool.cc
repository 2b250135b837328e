#include "pool.h"

#include <thread>

namespace vv {

struct PoolShared {
  std::mutex m;
  std::condition_variable cv;
  std::deque<std::function<void()>> queue;
  bool stop = false;
  int threads = 0;
  int idle = 0;
};

// Thread body: threads are detached, so they only touch the shared state they co-own.
static void WorkerLoop(std::shared_ptr<PoolShared> s) {
  std::unique_lock<std::mutex> lock(s->m);
  for (;;) {
    s->idle++;
    s->cv.wait(lock, [&] { return s->stop || !s->queue.empty(); });
    s->idle--;
    if (s->stop) {
      return;
    }
    auto task = std::move(s->queue.front());
    s->queue.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

void CallJobJs(Napi::Env env, Napi::Function, void*, Job* job) {
  std::unique_ptr<Job> owned(job);
  if (env == nullptr) {
    return;  // environment is going away: nobody can observe the promise any more
  }
  Napi::HandleScope scope(env);
  if (job->error) {
    job->deferred.Reject(job->error->ToJs(env));
  } else {
    try {
      job->deferred.Resolve(job->Complete(env));
    } catch (const Napi::Error& e) {
      job->deferred.Reject(e.Value());
    }
  }
  GetPool(env).JobDone(env);
}

Pool::Pool(Napi::Env env) : shared_(std::make_shared<PoolShared>()) {
  tsfn_ = JobTsfn::New(env, "virtvault-libvirt-jobs", 0, 1);
  // Idle pool must not keep the process alive: ref only while promises are pending.
  tsfn_.Unref(env);
  for (int i = 0; i < kMinThreads; i++) {
    Spawn();
  }
}

void Pool::Spawn() {
  shared_->threads++;
  std::thread(WorkerLoop, shared_).detach();
}

Napi::Promise Pool::Submit(Napi::Env env, Job* job) {
  Napi::Promise promise = job->deferred.Promise();
  if (pending_++ == 0) {
    tsfn_.Ref(env);
  }
  JobTsfn tsfn = tsfn_;
  {
    std::lock_guard<std::mutex> lock(shared_->m);
    shared_->queue.emplace_back([job, tsfn]() mutable {
      job->Execute();
      if (tsfn.BlockingCall(job) != napi_ok) {
        delete job;  // environment torn down while the call ran
      }
    });
    // A blocked call holds its thread: grow so that other calls never queue behind it.
    if (shared_->idle < static_cast<int>(shared_->queue.size()) && shared_->threads < kMaxThreads) {
      Spawn();
    }
  }
  shared_->cv.notify_one();
  return promise;
}

void Pool::Post(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(shared_->m);
    if (shared_->stop) {
      return;
    }
    shared_->queue.emplace_back(std::move(task));
  }
  shared_->cv.notify_one();
}

void Pool::JobDone(Napi::Env env) {
  if (--pending_ == 0) {
    tsfn_.Unref(env);
  }
}

Napi::Object Pool::Stats(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  std::lock_guard<std::mutex> lock(shared_->m);
  o.Set("threads", shared_->threads);
  o.Set("idle", shared_->idle);
  o.Set("queued", static_cast<double>(shared_->queue.size()));
  o.Set("pending", static_cast<double>(pending_));
  return o;
}

void Pool::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(shared_->m);
    shared_->stop = true;
  }
  shared_->cv.notify_all();
  // No tsfn_.Release(): node finalizes thread-safe functions itself at environment teardown, before
  // instance data; releasing again would touch freed memory.
}

Pool& GetPool(Napi::Env env) { return *env.GetInstanceData<Pool>(); }

}  // namespace vv
