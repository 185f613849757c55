use scope::{scoped, spawn, Interrupted};

// `From<Interrupted>`, but no `Display`: a scope reports its error by its message.
#[derive(Debug)]
enum AppError {
    Interrupted(Interrupted),
}

impl From<Interrupted> for AppError {
    fn from(i: Interrupted) -> Self {
        AppError::Interrupted(i)
    }
}

#[scoped]
async fn load() -> Result<u32, AppError> {
    let a = spawn!(async { Ok(1) });
    Ok(a.await?)
}

fn main() {}
