// A `main` whose body is one expression on the braces' line compiles with no warning (it got
// `unused_braces`, whose suggested fix did not parse).
#![deny(warnings)]

async fn run() -> Result<(), scope::Interrupted> {
    Ok(())
}

#[scope::main]
async fn main() -> Result<(), scope::Interrupted> { run().await }
