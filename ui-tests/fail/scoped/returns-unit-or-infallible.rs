use std::convert::Infallible;

use scope::scoped;

// A return type written as `()` is told to become a `Result`, not to be added; a server loop
// written `-> Infallible` is told once, without rustc's follow-on errors.
#[scoped]
async fn flush() -> () {}

#[scoped]
async fn serve() -> Infallible {
    loop {
        tokio::task::yield_now().await;
    }
}

fn main() {}
