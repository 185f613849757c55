use scope::{scoped, Interrupted};

#[scope::main]
#[scoped(limit = 4)]
async fn main() -> Result<(), Interrupted> {
    Ok(())
}
