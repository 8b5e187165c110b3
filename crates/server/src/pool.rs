//! The server's database threads: a fixed number of threads, each keeping one opened node
//! (its store's connection and the unsealed CA) between the jobs it runs, so the server
//! never holds more database connections than it has threads. Requests, the lifecycle
//! loop and its lease all run their store work here; a job that waits longer than its
//! bound for a free thread is answered 503 (`unavailable`) without running. Three servers
//! on one PostgreSQL so stay under its `max_connections`.
//!
//! A node is not `Send` (its store's connection is used from one thread), hence threads
//! that keep theirs rather than a pool of nodes handed between threads.

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use certherd_authority::Node;
use certherd_protocol::ErrorCode;
use certherd_store::HomeStore;

use crate::{OpenNode, Refused, SettingsStamp};

/// A job for a database thread: run with `true` when it waited past its bound (it then
/// only answers that).
type Job = Box<dyn FnOnce(bool) + Send>;

/// A job and when it was queued.
struct Queued {
    at: Instant,
    wait: Duration,
    job: Job,
}

/// The node a database thread keeps, and the settings stamp it was opened at; counted in
/// the pool's open connections while it lives.
struct Held {
    stamp: Option<SystemTime>,
    /// The pool's generation when it was opened.
    generation: u64,
    node: Node<HomeStore>,
    _counted: Counted,
}

/// One open connection in the pool's count.
struct Counted(Arc<AtomicUsize>);

impl Counted {
    fn new(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count.clone())
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// What a database thread knows of its pool.
struct ThreadState {
    open: OpenNode,
    stamp: Option<SettingsStamp>,
    count: Arc<AtomicUsize>,
    generation: Arc<AtomicU64>,
    held: Option<Held>,
}

thread_local! {
    /// Set on database threads only: their node and how to open it.
    static THREAD: RefCell<Option<ThreadState>> = const { RefCell::new(None) };
}

/// `max` database threads and the queue of their jobs.
pub struct Pool {
    queue: mpsc::Sender<Queued>,
    max: usize,
    wait: Duration,
    count: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("max", &self.max)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

/// What a job waiting past its bound answers.
fn busy(max: usize, waited: Duration) -> Refused {
    tracing::warn!(
        code = 503,
        "certherd server: all {max} database connections stayed in use for {:.1}s: refused 503",
        waited.as_secs_f32()
    );
    (
        ErrorCode::Unavailable,
        "every database connection of this server is busy; try again, or another server".to_owned(),
    )
}

impl Pool {
    /// Starts `max` (at least 1) database threads whose nodes `open` opens (again when
    /// `stamp` says the settings changed, or the node's connection is gone); a job waits
    /// at most `wait` for one. The threads end when the pool is dropped and their queue
    /// is empty.
    pub fn start(
        open: OpenNode,
        stamp: Option<SettingsStamp>,
        max: usize,
        wait: Duration,
    ) -> std::io::Result<Arc<Self>> {
        let max = max.max(1);
        let (queue, jobs) = mpsc::channel::<Queued>();
        let jobs = Arc::new(Mutex::new(jobs));
        let count = Arc::new(AtomicUsize::new(0));
        let generation = Arc::new(AtomicU64::new(0));
        for i in 0..max {
            let (jobs, open, stamp, count, generation) = (
                jobs.clone(),
                open.clone(),
                stamp.clone(),
                count.clone(),
                generation.clone(),
            );
            std::thread::Builder::new()
                .name(format!("certherd-db-{i}"))
                .spawn(move || {
                    THREAD.with(|t| {
                        *t.borrow_mut() = Some(ThreadState {
                            open,
                            stamp,
                            count,
                            generation,
                            held: None,
                        })
                    });
                    loop {
                        // The lock is held only to take one job.
                        let next = match jobs.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => break,
                        };
                        let Ok(q) = next else { break };
                        let late = q.at.elapsed() > q.wait;
                        // A panicking job loses its answer (its caller sees a 500) and
                        // the thread's node, not the thread.
                        if std::panic::catch_unwind(AssertUnwindSafe(|| (q.job)(late))).is_err() {
                            THREAD.with(|t| {
                                if let Some(s) = t.borrow_mut().as_mut() {
                                    s.held = None;
                                }
                            });
                        }
                    }
                    // The node (its connection) is closed with the thread's state.
                    THREAD.with(|t| t.borrow_mut().take());
                })?;
        }
        Ok(Arc::new(Self {
            queue,
            max,
            wait,
            count,
        }))
    }

    /// The most database connections the pool opens (its threads).
    pub fn max(&self) -> usize {
        self.max
    }

    /// The database connections open now.
    pub fn open_now(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Runs `f` on a database thread, waiting up to the pool's bound for one; 503
    /// `unavailable` past it.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, Refused> + Send + 'static,
    ) -> Result<T, Refused> {
        self.run_within(self.wait, f).await
    }

    /// [`Pool::run`] waiting at most `wait` for a database thread.
    pub async fn run_within<T: Send + 'static>(
        &self,
        wait: Duration,
        f: impl FnOnce() -> Result<T, Refused> + Send + 'static,
    ) -> Result<T, Refused> {
        let internal = || (ErrorCode::Internal, crate::INTERNAL.to_owned());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let max = self.max;
        let at = Instant::now();
        let job: Job = Box::new(move |late| {
            let answer = if late {
                Err(busy(max, at.elapsed()))
            } else {
                f()
            };
            let _ = tx.send(answer);
        });
        if self.queue.send(Queued { at, wait, job }).is_err() {
            return Err(internal());
        }
        rx.await.unwrap_or_else(|_| Err(internal()))
    }
}

/// This database thread's node: the one it keeps, or opened anew when the settings
/// changed, its connection is gone, or `fresh` asks (the lifecycle loop reads everything
/// anew). Only on a database thread; 503 `unavailable` when the node cannot be opened.
pub(crate) fn node(fresh: bool) -> Result<Lent, Refused> {
    if !THREAD.with(|t| t.borrow().is_some()) {
        tracing::error!("certherd server: the store used outside a database thread");
        return Err((ErrorCode::Internal, crate::INTERNAL.to_owned()));
    }
    held(fresh).map_err(|e| {
        tracing::error!("certherd server: cannot open the node: {e}");
        (
            ErrorCode::Unavailable,
            "the server cannot reach its database; try again, or another server".to_owned(),
        )
    })
}

/// [`node`], failing with why the node could not be opened (no password in it).
pub(crate) fn held(fresh: bool) -> Result<Lent, crate::Seam> {
    THREAD.with(|t| {
        let mut t = t.borrow_mut();
        let Some(state) = t.as_mut() else {
            return Err(crate::Seam::NoDatabaseThread);
        };
        let stamp = state.stamp.as_ref().and_then(|f| f());
        let generation = state.generation.load(Ordering::SeqCst);
        match state.held.take() {
            Some(h)
                if !fresh
                    && h.stamp == stamp
                    && h.generation == generation
                    && !h.node.store().is_closed() =>
            {
                Ok(Lent(Some(h)))
            }
            stale => {
                // The old connection is closed before a new one opens.
                drop(stale);
                let node = (state.open)()?;
                Ok(Lent(Some(Held {
                    stamp,
                    generation,
                    node,
                    _counted: Counted::new(&state.count),
                })))
            }
        }
    })
}

/// Says that the database connection of this thread failed: every thread of its pool
/// opens its node anew before its next job (a connection lost is most likely all of them
/// lost), this one at once.
pub(crate) fn lost() {
    THREAD.with(|t| {
        if let Some(s) = t.borrow_mut().as_mut() {
            s.generation.fetch_add(1, Ordering::SeqCst);
            s.held = None;
        }
    });
}

/// The thread's node lent to one job, put back when dropped.
pub(crate) struct Lent(Option<Held>);

impl std::ops::Deref for Lent {
    type Target = Node<HomeStore>;
    fn deref(&self) -> &Self::Target {
        // Set when lent and only taken in `drop`.
        &self
            .0
            .as_ref()
            .unwrap_or_else(|| unreachable!("a lent node is present until dropped"))
            .node
    }
}

impl std::ops::DerefMut for Lent {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self
            .0
            .as_mut()
            .unwrap_or_else(|| unreachable!("a lent node is present until dropped"))
            .node
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            THREAD.with(|t| {
                if let Some(s) = t.borrow_mut().as_mut() {
                    if h.node.store().is_closed() {
                        // A lost connection is most likely all of them lost (the database
                        // restarted, the network dropped): every thread opens its node
                        // anew before its next job rather than failing it first.
                        s.generation.fetch_add(1, Ordering::SeqCst);
                    } else {
                        s.held = Some(h);
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(wait: Duration) -> Arc<Pool> {
        let open: OpenNode =
            Arc::new(|| Err(crate::Seam::Io(std::io::Error::other("no database here"))));
        Pool::start(open, None, 2, wait).unwrap()
    }

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_job_that_waited_past_its_bound_is_refused_503_without_running() {
        let p = pool(Duration::ZERO);
        let ran = Arc::new(AtomicUsize::new(0));
        let r = ran.clone();
        let answer = block_on(p.run(move || {
            r.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }));
        assert_eq!(answer.unwrap_err().0, ErrorCode::Unavailable);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        assert_eq!(p.max(), 2);
    }

    #[test]
    fn a_database_that_cannot_be_opened_is_503_and_no_connection_is_counted() {
        let p = pool(Duration::from_secs(10));
        let answer = block_on(p.run(|| node(false).map(|_| ())));
        let (code, message) = answer.unwrap_err();
        assert_eq!(code, ErrorCode::Unavailable);
        assert!(message.contains("cannot reach its database"), "{message}");
        assert_eq!(p.open_now(), 0);
        let why = block_on(p.run(|| Ok(held(false).map(|_| ())))).unwrap();
        assert_eq!(why.unwrap_err().to_string(), "no database here");
        // Off a database thread the store is not used at all.
        assert_eq!(node(false).err().map(|e| e.0), Some(ErrorCode::Internal));
    }
}
