#[scope::test(worker_threads = 2)]
async fn t() {}

fn main() {}
