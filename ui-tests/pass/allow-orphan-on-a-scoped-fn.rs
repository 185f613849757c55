use scope::{scoped, spawn, Interrupted};

// The opt-out on a whole fn (above or below `#[scoped]`, with options or not), on a method of
// a `#[scoped]` `impl` block and on a fn of a `#[scoped]` module: the orphan lint is off in
// that body, and its spawn macros are still the scope's.
#[scope::allow_orphan]
#[scoped]
async fn above() -> Result<u32, Interrupted> {
    let detached = tokio::spawn(async { 1u32 });
    let child = spawn!(async { Ok(2u32) });
    Ok(detached.await.unwrap() + child.await?)
}

#[scope::allow_orphan]
#[scoped(limit = 2)]
async fn above_with_options() -> Result<u32, Interrupted> {
    Ok(tokio::spawn(async { 3u32 }).await.unwrap())
}

#[scoped(limit = 2)]
#[scope::allow_orphan]
async fn below() -> Result<u32, Interrupted> {
    Ok(tokio::spawn(async { 4u32 }).await.unwrap())
}

struct Pool;

#[scoped]
impl Pool {
    #[scope::allow_orphan]
    async fn start(&self) -> Result<u32, Interrupted> {
        Ok(tokio::spawn(async { 5u32 }).await.unwrap())
    }
}

#[scoped]
mod jobs {
    use scope::Interrupted;

    #[scope::allow_orphan]
    pub async fn run() -> Result<u32, Interrupted> {
        Ok(tokio::spawn(async { 6u32 }).await.unwrap())
    }
}

// Below `#[scoped]` on an `impl` block and on a module: every fn there.
struct Quiet;

#[scoped]
#[scope::allow_orphan]
impl Quiet {
    async fn start(&self) -> Result<u32, Interrupted> {
        Ok(tokio::spawn(async { 7u32 }).await.unwrap())
    }
}

#[scoped]
#[scope::allow_orphan]
mod quiet_jobs {
    use scope::Interrupted;

    pub async fn run() -> Result<u32, Interrupted> {
        Ok(tokio::spawn(async { 8u32 }).await.unwrap())
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let total = rt.block_on(async {
        above().await.unwrap()
            + above_with_options().await.unwrap()
            + below().await.unwrap()
            + Pool.start().await.unwrap()
            + jobs::run().await.unwrap()
            + Quiet.start().await.unwrap()
            + quiet_jobs::run().await.unwrap()
    });
    assert_eq!(total, 36);
}
