// What the message for `-> !` suggests: `Result<Infallible, E>`, a loop that ends only with `?`
// on an error. (It ends here with `process::exit`, so that the case can pass: a `main` of this
// type returns only an error.)
use std::convert::Infallible;

#[scope::main]
async fn main() -> Result<Infallible, scope::Interrupted> {
    let mut n = 0u32;
    loop {
        scope::check()?;
        n += 1;
        if n == 3 {
            std::process::exit(0);
        }
    }
}
