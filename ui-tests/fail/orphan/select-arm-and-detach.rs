use scope::{scoped, Interrupted};

async fn work() {}

#[scoped]
async fn serve(mut jobs: tokio::sync::mpsc::Receiver<u32>) -> Result<(), Interrupted> {
    let handle = tokio::runtime::Handle::current();
    tokio::select! {
        Some(_job) = jobs.recv() => {
            // Read as code: the handle the body made is known here.
            handle.spawn(work());
        }
        () = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
    }
    let mut set = tokio::task::JoinSet::new();
    set.spawn(work());
    // The set's tasks would run on after the scope.
    set.detach_all();
    Ok(())
}

fn main() {}
