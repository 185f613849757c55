const THREADS: usize = 0;

// Said at compile time, not as tokio's panic when the runtime is built.
#[scope::main(flavor = "multi_thread", worker_threads = THREADS)]
async fn main() {}
