use scope::{scoped, Interrupted};

// Things named like a spawn that start nothing the scope would have to own.
fn spawn(n: u32) -> u32 {
    n + 1
}

struct Worker;

impl Worker {
    fn spawn(&self) -> u32 {
        7
    }
}

#[scoped]
async fn look_alikes() -> Result<u32, Interrupted> {
    let a = spawn(1);
    let b = Worker.spawn();
    let c = std::thread::scope(|s| s.spawn(|| 3).join().unwrap());
    let status = tokio::process::Command::new("true").spawn().is_ok();
    let mut set = tokio::task::JoinSet::new();
    set.spawn(async { 4 });
    // A closure or nested fn handed the body's own set (joined below) is not an orphan.
    let add = |set: &mut tokio::task::JoinSet<u32>| {
        set.spawn(async { 0 });
    };
    add(&mut set);
    fn add_more(set: &mut tokio::task::JoinSet<u32>) {
        set.spawn(async { 0 });
    }
    add_more(&mut set);
    let d: u32 = set.join_all().await.into_iter().sum();
    Ok(a + b + c + d + u32::from(status))
}

// Other crates' types named like the scope's handles may be returned.
#[scoped]
async fn launch(program: &'static str) -> Result<Option<tokio::process::Child>, Interrupted> {
    Ok(tokio::process::Command::new(program).kill_on_drop(true).spawn().ok())
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert!(rt.block_on(look_alikes()).unwrap() >= 2 + 7 + 3 + 4);
    assert!(rt.block_on(launch("/definitely/not/here")).unwrap().is_none());
}
