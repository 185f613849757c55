use std::borrow::Cow;

use scope::{scope, scoped, Interrupted};

// `name = ..` takes what `Config::name` takes: a `&'static str`, a `String` (a parameter, a
// `format!`) or a `Cow<'static, str>`.
#[scoped(name = label)]
async fn labelled(label: String) -> Result<u32, Interrupted> {
    let a: u32 = scope!(name = format!("{}-inner", 1), error = Interrupted, { Ok(1u32) }).await?;
    let b: u32 = scope!(name = Cow::Borrowed("cow"), error = Interrupted, { Ok(2u32) }).await?;
    const NAME: &str = "constant";
    let c: u32 = scope!(name = NAME, error = Interrupted, { Ok(3u32) }).await?;
    Ok(a + b + c)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(labelled("outer".to_owned()).await.unwrap(), 6);
}
