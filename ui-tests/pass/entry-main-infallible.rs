// What the message for `-> !` suggests: `Result<Infallible, E>`, ending with `?` on an error.
use std::convert::Infallible;

#[scope::main(signals = [terminate])]
async fn main() -> Result<Infallible, scope::Interrupted> {
    let s = scope::Cx::current();
    s.cancel("the server stopped");
    loop {
        scope::check()?;
    }
}
