use scope::Interrupted;

// A `return` of its own in `main`'s body is told a value of the wrong type where it is
// written (the body's type was taken from it, and it was told at the attribute, twice).
#[scope::main]
async fn main() -> Result<(), Interrupted> {
    if std::env::args().count() > 5 {
        return Ok(5);
    }
    Ok(())
}
