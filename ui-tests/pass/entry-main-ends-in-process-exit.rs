// A `main` whose body ends in `std::process::exit(..)` (it never returns) gets its return
// type, as a `loop` body does; and the expansion's own calls are not taken for a trait's
// method of the same name that the module implements for every type.
#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error(transparent)]
    Interrupted(#[from] scope::Interrupted),
}

#[allow(dead_code)]
trait Run {
    fn run(self) -> u8;
}

impl<T> Run for T {
    fn run(self) -> u8 {
        1
    }
}

#[scope::main]
async fn main() -> Result<(), AppError> {
    let c = scope::spawn!(async { Ok(()) });
    c.await?;
    std::process::exit(0)
}
