// Said at compile time, not as tokio's panic when the runtime is built.
#[scope::main(flavor = "multi_thread", worker_threads = (0))]
async fn main() {}
