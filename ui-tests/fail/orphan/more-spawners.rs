use scope::{scoped, Interrupted};

// Stand-ins with the real paths' names: the lint reads names, before resolution.
mod rayon {
    pub fn spawn<F: FnOnce() + Send + 'static>(f: F) {
        f()
    }
    pub fn spawn_fifo<F: FnOnce() + Send + 'static>(f: F) {
        f()
    }
}
struct LocalPoolHandle;
impl LocalPoolHandle {
    fn new(_: usize) -> Self {
        LocalPoolHandle
    }
    fn spawn_pinned<F: FnOnce() -> Fut, Fut>(&self, _: F) {}
}

#[scoped]
async fn handler(pool: &LocalPoolHandle) -> Result<(), Interrupted> {
    rayon::spawn(|| ());
    rayon::spawn_fifo(|| ());
    pool.spawn_pinned(|| async {});
    LocalPoolHandle::new(2).spawn_pinned(|| async {});
    // SAFETY: the closure borrows nothing.
    let _ = unsafe { std::thread::Builder::new().spawn_unchecked(|| ()) };
    Ok(())
}

fn main() {}
