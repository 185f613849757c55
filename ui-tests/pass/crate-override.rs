// `crate = path` for a facade reached under another name.
mod facade {
    pub use ::scope::*;
}

use facade::{Interrupted, scoped, spawn};

facade::slot!(crate = crate::facade; static TENANT: String);

#[scoped(crate = crate::facade, slots(TENANT = "acme".to_owned()))]
async fn tenant() -> Result<String, Interrupted> {
    Ok(spawn!(async { Ok(TENANT.get().unwrap_or_default()) }).await?)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let fut = facade::scope!(crate = crate::facade, { tenant().await });
    assert_eq!(rt.block_on(fut).ok(), Some("acme".to_owned()));
}
