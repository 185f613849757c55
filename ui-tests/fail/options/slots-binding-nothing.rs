use scope::{scoped, Interrupted};

// `slots()` binds nothing: the message shows the form.
#[scoped(slots())]
async fn handle() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
