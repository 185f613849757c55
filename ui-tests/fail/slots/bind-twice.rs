use scope::{scoped, Interrupted};

scope::slot!(static REQUEST_ID: String);

#[scoped(slots(REQUEST_ID = "a".to_owned(), REQUEST_ID = "b".to_owned()))]
async fn handler() -> Result<(), Interrupted> {
    Ok(())
}

fn main() {}
