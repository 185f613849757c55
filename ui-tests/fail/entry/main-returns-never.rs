// A server loop's `main` that never returns: `!` is not a return type `main` can have here.
#[scope::main]
async fn main() -> ! {
    loop {
        scope::cancelled().await;
    }
}
