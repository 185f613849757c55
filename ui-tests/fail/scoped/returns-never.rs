// A `#[scoped]` fn that returns `!` (a server loop): a scope can end without its body's say (a
// child failed, a deadline), so it returns a `Result`; the help names the stable spelling of
// "never succeeds", not `Result<!, E>` (the `!` type is unstable there).
use scope::scoped;

#[scoped]
async fn serve() -> ! {
    loop {
        tokio::task::yield_now().await;
    }
}

fn main() {}
