use std::fmt;
use std::rc::Rc;

use scope::{scope, scoped, spawn, Interrupted};

// A child's error crosses threads to its scope: an error type must be `Send + 'static`, and
// is told so at the return type (or the header's `error = ..`).
#[derive(Debug, thiserror::Error)]
enum AppError {
    #[error(transparent)]
    Interrupted(#[from] Interrupted),
    #[error(transparent)]
    Other(Box<dyn std::error::Error>),
}

#[scoped]
async fn handler() -> Result<u32, AppError> {
    Ok(spawn!(async { Ok(1) }).await?)
}

// Generic: the bound it lacks is named.
#[scoped]
async fn generic<Er: From<Interrupted> + fmt::Display>() -> Result<u32, Er> {
    Ok(spawn!(async { Ok(1) }).await?)
}

#[derive(Debug)]
struct LocalError(Rc<str>);

impl fmt::Display for LocalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Interrupted> for LocalError {
    fn from(i: Interrupted) -> Self {
        LocalError(i.to_string().into())
    }
}

async fn header() -> Result<u32, LocalError> {
    scope!(local, error = LocalError, { Ok(spawn!(async { Ok(1) }).await?) }).await
}

fn main() {}
